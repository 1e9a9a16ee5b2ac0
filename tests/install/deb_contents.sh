#!/usr/bin/env bash
# The Debian package's contents, without installing it: its control fields (name, version,
# architecture, the library dependencies dpkg-shlibdeps found), every file a user needs, and
# the CLI, a man page and the completion run from the unpacked tree.
#   tests/install/deb_contents.sh build-deb/zfnet_VERSION_amd64.deb WORKDIR
set -euo pipefail
deb=$1 work=$2
rm -rf "$work" && mkdir -p "$work"
fail() { echo "deb_contents: $*" >&2; exit 1; }
version=$(dpkg-deb --field "$deb" Version)
[ "$(basename "$deb")" = "zfnet_${version}_amd64.deb" ] || fail "file name $(basename "$deb")"
depends=$(dpkg-deb --field "$deb" Depends)
for lib in libdnnl2 libjansson4 libturbojpeg0 libspng0 liblinear4 libprotobuf-c1 zlib1g libgomp1; do
    [[ $depends == *"$lib "* ]] || fail "Depends lacks $lib: $depends"
done
dpkg-deb -x "$deb" "$work/root"
r=$work/root/usr
multi=$(ls "$r/lib" | grep -- -linux-gnu | head -n1)
for f in bin/zfnet include/zfnet/zfnet.h include/zfnet/core.h include/zfnet/analysis.h \
    "lib/$multi/libzfnet.so.1" "lib/$multi/libzfnet.a" "lib/$multi/pkgconfig/zfnet.pc" \
    "lib/$multi/cmake/zfnet/zfnetConfig.cmake" lib/python3/dist-packages/zfnet.py \
    share/man/man1/zfnet.1.gz share/man/man1/zfnet-train.1.gz \
    share/bash-completion/completions/zfnet share/zfnet/models/zfnet.cfg \
    share/doc/zfnet/examples/project.c share/doc/zfnet/README.md; do
    [ -e "$r/$f" ] || fail "no /usr/$f"
done
[ "$(objdump -p "$r/lib/$multi/libzfnet.so.1" | awk '/SONAME/ {print $2}')" = libzfnet.so.1 ] ||
    fail "SONAME"
v=$(LD_LIBRARY_PATH=$r/lib/$multi "$r/bin/zfnet" --version)
[ "$v" = "zfnet $version (libzfnet $version)" ] || fail "zfnet --version: $v"
LD_LIBRARY_PATH=$r/lib/$multi "$r/bin/zfnet" summary zfnet | grep -q "total: 62,357,608 parameters" ||
    fail "zfnet summary zfnet"
MANWIDTH=80 man -l "$r/share/man/man1/zfnet-train.1.gz" | grep -q -- "--resume" || fail "man page"
got=$(bash -c "source '$r/share/bash-completion/completions/zfnet'; COMP_WORDS=(zfnet tr);
  COMP_CWORD=1; _zfnet; echo \${COMPREPLY[*]}")
[ "$got" = "train transfer" ] || fail "completion of 'zfnet tr': $got"
echo "deb_contents: $(basename "$deb"): $(dpkg-deb -c "$deb" | wc -l) entries, Depends: $depends"
