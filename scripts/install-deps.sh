#!/usr/bin/env bash
# Install the Debian 12 packages zfnet needs (idempotent; apt-get as root, or through sudo).
#   scripts/install-deps.sh          what building and running zfnet needs
#   scripts/install-deps.sh --tests  also what the test suite needs (cmocka, PyTorch, numpy)
#   scripts/install-deps.sh --bench  also the peers bench/run.py measures against: PyTorch with
#                                    OpenBLAS (Debian's python3-torch otherwise runs its fc
#                                    layers on the reference BLAS), jemalloc, darknet
set -euo pipefail

pkgs=(gcc libc6-dev cmake ninja-build pkg-config libjansson-dev libdnnl-dev zlib1g-dev
      libturbojpeg0-dev libspng-dev dataset-fashion-mnist)
case "${1:-}" in
--tests) pkgs+=(libcmocka-dev python3 python3-numpy python3-torch python3-pil clang-format) ;;
--bench) pkgs+=(python3 python3-numpy python3-torch python3-pil libopenblas0-pthread libjemalloc2 darknet) ;;
esac

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "install-deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
