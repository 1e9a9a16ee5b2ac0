#!/usr/bin/env bash
# Does the loader keep up with training at ZFNet's 224x224 size, reading a shard, on this
# machine? Makes a photo-like folder (1280 JPEGs of 500x375, bench/make_photos.py), packs it
# (short side 256, JPEG quality 90), times the loader alone (decode + random 224 crop + mirror +
# mean subtraction) with 1 and 2 threads, then trains zfnet for one epoch on it (batch 128,
# 2 compute threads, 2 loader threads) and reports how long the compute waited for data.
# usage: bench/loader.sh [WORKDIR]   (zfnet built in build/)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/zfnet-loader-bench}
mkdir -p "$work"
[ -d "$work/photos" ] || /usr/bin/python3 bench/make_photos.py "$work/photos" --count 1280
[ -f "$work/photos.zfs" ] || build/zfnet pack "$work/photos" -o "$work/photos.zfs"
build/zfnet data "$work/photos.zfs" --speed --threads 1 | tail -1
build/zfnet data "$work/photos.zfs" --speed --threads 2 | tail -1
rm -rf "$work/run"
build/zfnet train --model zfnet --train "$work/photos.zfs" --test none --crop-pad 0 \
    --epochs 1 --batch 128 --threads 2 --loader-threads 2 -o "$work/run" | grep -E "^epoch|^model"
