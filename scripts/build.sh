#!/usr/bin/env bash
# Configure and build zfnet into a build folder.
#   scripts/build.sh [BUILD_DIR] [extra cmake options...]   (default build dir: build)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -G Ninja -DZF_WERROR=ON "$@" >/dev/null
ninja -C "$dir"
