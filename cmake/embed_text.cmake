# A text file as a C string (run at build time): -DIN=file -DOUT=file.c -DNAME=symbol
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
file(WRITE "${OUT}.tmp" "/* Generated from ${IN} by cmake/embed_text.cmake: do not edit. */\nconst char ${NAME}[] = {${hex}0};\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
