#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is needed, build, then run the
# embedded demo: train zfnet-mini on Debian's Fashion-MNIST and evaluate it on the 10k test
# images ("test accuracy: NN.NN%"); the run goes to ./zfnet-demo/. Arguments go to zfnet demo
# (e.g. -o DIR, --overwrite, --epochs N).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build -DBUILD_TESTING=OFF
./build/zfnet demo "$@"
