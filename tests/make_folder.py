"""Write a small image folder for the ImageFolder / shard tests: JPEG and PNG files in three
classes, plus the awkward cases (a PNG named .jpg, a grayscale and a CMYK JPEG, an RGBA and
a palette PNG, a large JPEG that the decoder downscales in the DCT domain) and two bad files
(a truncated JPEG, a text file named .png).

usage: make_folder.py ROOT [--per-class N]
Prints a JSON list of {path, label, kind} for the good files."""
import argparse
import io
import json
import os

import numpy as np
from PIL import Image


def pattern(label, i, w, h):
    """A picture whose class shows: stripes in a direction per class, colours per image."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rng = np.random.default_rng(100 * label + i)
    base = rng.uniform(40, 215, size=3)
    wave = [np.sin(x / 3.0), np.sin(y / 3.0), np.sin((x + y) / 4.0)][label % 3]
    img = base[None, None, :] + 40 * wave[..., None] + rng.normal(0, 6, size=(h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--per-class", type=int, default=6)
    a = ap.parse_args()
    good = []
    classes = ["circle", "square", "zebra"]
    for label, name in enumerate(classes):
        d = os.path.join(a.root, name)
        os.makedirs(d, exist_ok=True)
        for i in range(a.per_class):
            w, h = 40 + 7 * i, 36 + 5 * ((i + label) % 4)
            im = pattern(label, i, w, h)
            if i % 2:
                p = os.path.join(d, f"img{i}.png")
                im.save(p)
                kind = "png"
            else:
                p = os.path.join(d, f"img{i}.jpg")
                im.save(p, quality=92)
                kind = "jpeg"
            good.append({"path": p, "label": label, "kind": kind})
    special = os.path.join(a.root, "square")
    im = pattern(1, 90, 48, 40)
    p = os.path.join(special, "really_png.jpg")  # the name lies
    im.save(p, format="PNG")
    good.append({"path": p, "label": 1, "kind": "png named .jpg"})
    p = os.path.join(special, "gray.jpg")
    im.convert("L").save(p, quality=92)
    good.append({"path": p, "label": 1, "kind": "grayscale jpeg"})
    p = os.path.join(a.root, "zebra", "cmyk.jpg")
    pattern(2, 91, 44, 38).convert("CMYK").save(p, quality=95)
    good.append({"path": p, "label": 2, "kind": "cmyk jpeg"})
    p = os.path.join(a.root, "circle", "rgba.png")
    rgba = pattern(0, 92, 42, 42).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(p)
    good.append({"path": p, "label": 0, "kind": "rgba png"})
    p = os.path.join(a.root, "circle", "palette.png")
    pattern(0, 93, 40, 44).convert("P", palette=Image.ADAPTIVE, colors=64).save(p)
    good.append({"path": p, "label": 0, "kind": "palette png"})
    p = os.path.join(a.root, "zebra", "large.jpg")  # decoded at 1/4 scale (DCT) for 32 px
    pattern(2, 94, 400, 300).save(p, quality=92)
    good.append({"path": p, "label": 2, "kind": "large jpeg"})
    buf = io.BytesIO()
    pattern(1, 95, 64, 64).save(buf, format="JPEG", quality=92)
    with open(os.path.join(special, "truncated.jpg"), "wb") as f:
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
    with open(os.path.join(a.root, "zebra", "notes.png"), "w") as f:
        f.write("this is not an image\n")
    print(json.dumps(good))


if __name__ == "__main__":
    main()
