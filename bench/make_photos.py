#!/usr/bin/python3
"""A photo-like image folder for loader measurements: N JPEGs of 500x375 (ImageNet's typical
size) in 10 classes, smooth colour fields with blobs and sensor-like noise, quality 90.

Usage: bench/make_photos.py ROOT [--count 1280]"""
import argparse
import os

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--count", type=int, default=1280)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:375, 0:500].astype(np.float32)
    for i in range(a.count):
        d = os.path.join(a.root, f"class{i % 10}")
        os.makedirs(d, exist_ok=True)
        img = np.zeros((375, 500, 3), np.float32)
        img += rng.uniform(0, 255, 3) * (x / 500)[..., None] + rng.uniform(0, 255, 3) * (y / 375)[..., None]
        for _ in range(6):
            cy, cx, r = rng.uniform(0, 375), rng.uniform(0, 500), rng.uniform(20, 120)
            img += rng.uniform(-120, 120, 3) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))[..., None]
        img = img / 2 + rng.normal(0, 4, img.shape)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            os.path.join(d, f"{i:05d}.jpg"), quality=90)


if __name__ == "__main__":
    main()
