#!/usr/bin/env bash
# The fuzz targets' code on the seed corpora and on every input kept in fuzz/regress/ (files
# that once crashed or hung a target), through the replay drivers: ASan and UBSan see them in
# the sanitized build, without clang or libFuzzer.
#   fuzz_replay.sh ZFNET FUZZ_BIN_DIR SOURCE_DIR WORKDIR
set -euo pipefail
zfnet=$1 bin=$2 src=$3 work=$4
rm -rf "$work"
/usr/bin/python3 "$src/fuzz/make_corpus.py" "$zfnet" "$work" >/dev/null
for t in model safetensors state idx cifar shard image onnx serve; do
    files=("$work/$t"/*)
    if [ -d "$src/fuzz/regress/$t" ]; then
        for f in "$src/fuzz/regress/$t"/*; do [ -f "$f" ] && files+=("$f"); done
    fi
    printf '%-12s ' "$t"
    timeout 600 "$bin/fuzz_$t" "${files[@]}"
done
