#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is needed, build, then show ZFNet's
# architecture and check a forward/backward pass of it against finite differences.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build -DBUILD_TESTING=OFF
./build/zfnet summary zfnet
echo
./build/zfnet check zfnet
