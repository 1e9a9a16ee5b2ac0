#!/usr/bin/env bash
# Install the Debian 12 packages zfnet needs (idempotent; apt-get as root, or through sudo).
#   scripts/install-deps.sh          what building and running zfnet needs
#   scripts/install-deps.sh --tests  also what the test suite needs (cmocka, PyTorch, numpy,
#                                    scikit-learn, Chromium and tidy for the report, clang
#                                    with libFuzzer and libomp for the fuzz targets, the ONNX
#                                    test data, python3-onnx, Node.js and npm's onnxruntime-node
#                                    for the ONNX checks) and the digits below
#   scripts/install-deps.sh --digits OpenCV's digits sheet (the dataset "digits"): only
#                                    examples/data/digits.png is taken from Debian's opencv-doc
#                                    (a 96 MB package of documentation) and put where it puts it
#   scripts/install-deps.sh --package  also what scripts/package.sh needs (dpkg-shlibdeps)
#   scripts/install-deps.sh --bench  also the peers bench/run.py measures against: PyTorch with
#                                    OpenBLAS (Debian's python3-torch otherwise runs its fc
#                                    layers on the reference BLAS), jemalloc, darknet
set -euo pipefail

pkgs=(gcc libc6-dev cmake ninja-build pkg-config libjansson-dev libdnnl-dev zlib1g-dev
      libturbojpeg0-dev libspng-dev liblinear-dev libprotobuf-c-dev protobuf-c-compiler
      libonnx-dev libopenmpi-dev openmpi-bin libmicrohttpd-dev dataset-fashion-mnist)
digits=0
case "${1:-}" in
--tests) pkgs+=(libcmocka-dev python3 python3-numpy python3-torch python3-pil python3-sklearn
                clang-format chromium tidy clang libclang-rt-dev libomp-dev
                python3-onnx libonnx-testdata nodejs man-db bash-completion dpkg-dev)
         # Debian's npm, unless an npm is there already (NodeSource's nodejs carries its own)
         command -v npm >/dev/null || pkgs+=(npm)
         digits=1 ;;
--digits) digits=1 ;;
--package) pkgs+=(dpkg-dev file) ;;
--bench) pkgs+=(python3 python3-numpy python3-torch python3-pil libopenblas0-pthread libjemalloc2 darknet) ;;
esac

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
digits_png=/usr/share/doc/opencv-doc/examples/data/digits.png
[ $digits -eq 1 ] && [ ! -s $digits_png ] && need_digits=1 || need_digits=0
# onnxruntime, the peer runtime of the ONNX checks: npm's onnxruntime-node (its CPU library is in
# the package; --ignore-scripts skips the install script, which would fetch GPU files), pinned by
# tests/ort/package-lock.json, into tests/ort/node_modules
# and puppeteer-core, which drives Debian's chromium in zfnet serve's browser test, pinned by
# tests/browser/package-lock.json, into tests/browser/node_modules
tests_dir=$(cd "$(dirname "$0")/../tests" && pwd)
need_ort=0
[ "${1:-}" = --tests ] && { [ ! -d "$tests_dir/ort/node_modules/onnxruntime-node" ] ||
    [ ! -d "$tests_dir/browser/node_modules/puppeteer-core" ]; } && need_ort=1
# Where a proxy re-signs TLS with a certificate npm does not know (some build sandboxes), npm is
# run again without TLS verification: the lockfile's sha512 hashes still check every package.
npm_ci() { # DIR [npm options]
    local dir=$1
    shift
    (cd "$dir" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts --no-audit --no-fund \
        --loglevel=error "$@" >/dev/null)
}
install_npm() { # DIR
    local log
    log=$(mktemp)
    if ! npm_ci "$1" 2>"$log"; then
        if grep -q -E "CERT|certificate" "$log"; then
            echo "install-deps: npm cannot verify the registry's TLS certificate here; again," \
                "checking the packages by the lockfile's sha512 hashes only"
            npm_ci "$1" --strict-ssl=false
        else
            cat "$log" >&2
            rm -f "$log"
            return 1
        fi
    fi
    rm -f "$log"
}
install_ort() {
    echo "install-deps: onnxruntime-node and puppeteer-core from npm into tests/*/node_modules"
    install_npm "$tests_dir/ort" && install_npm "$tests_dir/browser"
}
if [ ${#missing[@]} -eq 0 ] && [ $need_digits -eq 0 ]; then
    [ $need_ort -eq 1 ] && install_ort
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    [ $need_digits -eq 1 ] && missing+=("$digits_png")
    echo "install-deps: these are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ $need_digits -eq 1 ]; then
    echo "install-deps: taking examples/data/digits.png from Debian's opencv-doc"
    tmp=$(mktemp -d)
    chmod 777 "$tmp" # apt-get download drops to the _apt user
    (cd "$tmp" && apt-get download -qq opencv-doc)
    dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb | tar -x -C "$tmp" ".$digits_png"
    "${as_root[@]}" install -D -m 644 "$tmp$digits_png" "$digits_png"
    rm -rf "$tmp"
fi
[ $need_ort -eq 1 ] && install_ort
exit 0
