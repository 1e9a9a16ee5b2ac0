#!/usr/bin/env bash
# The Debian package as a user installs it, on a clean Debian 12 (a minbase chroot: nothing but
# apt): `apt-get install ./zfnet_VERSION_amd64.deb` pulls its declared dependencies, then
#   zfnet summary zfnet, man zfnet-train, bash completion of `zfnet tr<TAB>`, the API example
#   compiled through pkg-config and run, the Python binding imported, zfnet --version.
# Needs root and debootstrap (or the pristine tarball ../shared/tools/fresh-debian caches in
# $FRESH_DIR, default /var/tmp/fresh-debian).
#   tests/install/deb_check.sh build-deb/zfnet_1.0.0_amd64.deb
set -euo pipefail
deb=$(readlink -f "$1")
dir=${FRESH_DIR:-/var/tmp/fresh-debian}
root=$dir/deb-check
cache=$dir/pristine.tar
mkdir -p "$dir"
if [ ! -f "$cache" ]; then
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
    mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p; s/^deb *\([^ ]*\/debian\) .*/\1/p' \
        /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n1 || true)
    rm -rf "$dir/base"
    debootstrap --variant=minbase bookworm "$dir/base" "${mirror:-http://deb.debian.org/debian}" \
        >"$dir/debootstrap.log" 2>&1
    tar -C "$dir/base" -cf "$cache" . && rm -rf "$dir/base"
fi
cleanup() { for m in proc sys dev; do umount -l "$root/$m" 2>/dev/null || true; done; }
trap cleanup EXIT
cleanup
rm -rf "$root" && mkdir -p "$root" && tar -C "$root" -xf "$cache"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/root/"
mount -t proc proc "$root/proc"; mount --rbind /sys "$root/sys"; mount --rbind /dev "$root/dev"
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    bash -euo pipefail -c '
cd /root
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
echo "== apt-get install ./$(ls zfnet_*.deb)"
apt-get install -y -qq ./zfnet_*.deb >/dev/null
echo "== zfnet --version: $(zfnet --version)"
echo "== zfnet summary zfnet"
zfnet summary zfnet | tail -n 3
zfnet summary zfnet | grep -q "total: 62,357,608 parameters"
echo "== the tools a user adds: man-db, bash-completion, a compiler, pkg-config"
apt-get install -y -qq man-db bash-completion gcc libc6-dev pkg-config >/dev/null
echo "== man zfnet-train"
MANWIDTH=90 man zfnet-train | head -n 12
MANWIDTH=90 man zfnet-train | grep -q -- "--resume"
man -w zfnet >/dev/null
echo "== completion of zfnet tr<TAB>"
got=$(bash -c "source /usr/share/bash-completion/bash_completion; _completion_loader zfnet;
  COMP_WORDS=(zfnet tr); COMP_CWORD=1; _zfnet; echo \${COMPREPLY[*]}")
echo "$got"
[ "$got" = "train transfer" ]
echo "== the API example through pkg-config"
cc -std=c11 -Wall -Werror /usr/share/doc/zfnet/examples/project.c \
    $(pkg-config --cflags --libs zfnet) -lm -o /tmp/project
/tmp/project
echo "== the Python binding"
python3 -c "import zfnet; n = zfnet.Net.from_model(\"zfnet-mini\"); print(\"zfnet.py on\", zfnet.version(), n.input_shape)"
echo "== removed again"
apt-get remove -y -qq zfnet >/dev/null
! command -v zfnet
'
echo "deb_check: passed on a clean Debian 12"
