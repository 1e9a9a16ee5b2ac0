#!/usr/bin/env bash
# zfnet as a user installs it: `cmake --install` into a prefix, then a C program built against
# it with pkg-config (and again through the CMake package) runs, and so does the installed CLI.
#   install_check.sh BUILD_DIR WORK_DIR [extra compiler flags, e.g. the sanitizers]
set -euo pipefail
build=$1 work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name 'zfnet.pc' -print -quit)")
libdir=$(dirname "$libdir")
export PKG_CONFIG_PATH=$libdir/pkgconfig
for f in include/zfnet/zfnet.h include/zfnet/core.h include/zfnet/analysis.h bin/zfnet share/zfnet/models/zfnet.cfg \
    share/zfnet/python/zfnet.py; do
    [ -e "$prefix/$f" ] || { echo "install_check: $prefix/$f is missing"; exit 1; }
done
[ -e "$libdir/libzfnet.a" ] && [ -L "$libdir/libzfnet.so" ] || { echo "install_check: no libraries in $libdir"; exit 1; }
soname=$(objdump -p "$libdir/libzfnet.so" | awk '/SONAME/ {print $2}')
[ "$soname" = libzfnet.so.1 ] || { echo "install_check: SONAME is '$soname'"; exit 1; }

echo "== pkg-config: $(pkg-config --cflags --libs zfnet)"
cc -std=c11 -Wall -Wextra -Werror "$@" -o "$work/api_pc" "$here/install/api_program.c" \
    $(pkg-config --cflags --libs zfnet) -lm -Wl,-rpath,"$libdir"
"$work/api_pc" "$work"

echo "== CMake package"
cmake -S "$here/install" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="$*" -DCMAKE_BUILD_RPATH="$libdir" >/dev/null
ninja -C "$work/consumer" >/dev/null
"$work/consumer/api_program" "$work"

if [ $# -eq 0 ]; then # (an ASan-built library cannot load into an uninstrumented Python)
    echo "== the installed Python binding"
    env -u ZFNET_LIB /usr/bin/python3 -c "
import sys; sys.path.insert(0, '$prefix/share/zfnet/python')
import zfnet
net = zfnet.Net.from_model('zfnet-mini')
assert net.input_shape == (1, 28, 28) and net.classes == 10, net.input_shape
print('zfnet.py: zfnet-mini,', len(net.layers), 'layers, from', zfnet.library()._name)"
fi

echo "== the installed CLI"
"$prefix/bin/zfnet" summary zfnet | grep -q "total: 62,357,608 parameters"
"$prefix/bin/zfnet" --version
echo "install_check: passed"
