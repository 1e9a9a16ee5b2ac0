#!/usr/bin/python3
"""Seed corpora for the fuzz targets, made by the project: valid files of every kind each
target reads (usage: make_corpus.py ZFNET OUT; OUT/<target>/ gets the seeds).

Models are the presets and a tiny model (fuzz/seeds/tiny.cfg); IDX and CIFAR files are written
here; checkpoints and a training state come from training the tiny model with ZFNET on the
tiny IDX set; images are written with PIL (JPEG baseline, progressive, gray, CMYK; PNG RGB,
gray, palette, 16-bit, alpha, interlaced) when it is there, and by `zfnet filters` otherwise;
shards are `zfnet pack` of a folder of those images (JPEG and lossless)."""
import glob
import gzip
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def split(a, b):
    """the fuzz_split layout: a's length (4 bytes, little-endian), a, b"""
    return struct.pack("<I", len(a)) + a + b


def idx_files(n=16, side=12, classes=4):
    images = bytes([0, 0, 8, 3]) + struct.pack(">III", n, side, side)
    images += bytes((i * 37 + j * 11) % 256 for i in range(n) for j in range(side * side))
    labels = bytes([0, 0, 8, 1]) + struct.pack(">I", n) + bytes(i % classes for i in range(n))
    return images, labels


def run(*cmd, cwd=None):
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL)


def models(zfnet, out):
    for f in sorted(glob.glob(os.path.join(HERE, "..", "models", "*.cfg"))):
        shutil.copy(f, os.path.join(out, "model", os.path.basename(f)))
    shutil.copy(os.path.join(HERE, "seeds", "tiny.cfg"), os.path.join(out, "model", "tiny.cfg"))


def idx_and_training(zfnet, out, work):
    images, labels = idx_files()
    write(os.path.join(out, "idx", "raw"), split(images, labels))
    write(os.path.join(out, "idx", "gzip"),
          split(gzip.compress(images, mtime=0), gzip.compress(labels, mtime=0)))
    write(os.path.join(work, "images.idx"), images)
    write(os.path.join(work, "labels.idx"), labels)
    tiny = os.path.join(HERE, "seeds", "tiny.cfg")
    data = os.path.join(work, "images.idx") + "," + os.path.join(work, "labels.idx")
    run(zfnet, "train", "--model", tiny, "--train", data, "--test", data, "--epochs", "2",
        "--batch", "4", "--threads", "1", "--mean-images", "8", "-o", os.path.join(work, "run"))
    run(zfnet, "init", tiny, "-o", os.path.join(work, "init.safetensors"))
    for name in ("last", "best"):
        shutil.copy(os.path.join(work, "run", name + ".safetensors"),
                    os.path.join(out, "safetensors", name))
    shutil.copy(os.path.join(work, "init.safetensors"), os.path.join(out, "safetensors", "init"))
    shutil.copy(os.path.join(work, "run", "state.safetensors"), os.path.join(out, "state", "state"))
    shutil.copy(os.path.join(work, "run", "state.safetensors"),
                os.path.join(out, "safetensors", "state"))


def cifar(out):
    rec10 = b"".join(bytes([k]) + bytes((k * 7 + j) % 256 for j in range(3072)) for k in (3, 9))
    rec100 = b"".join(bytes([k % 20, k]) + bytes((k + j) % 256 for j in range(3072))
                      for k in (5, 99))
    write(os.path.join(out, "cifar", "cifar10"), rec10)
    write(os.path.join(out, "cifar", "cifar100"), rec100)
    write(os.path.join(out, "cifar", "two-batches"), split(rec10, rec10[:3073]))


def images(zfnet, out, work):
    folder = os.path.join(work, "folder")
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        rgb = Image.new("RGB", (20, 14))
        rgb.putdata([((x * 12) % 256, (y * 18) % 256, (x * y) % 256)
                     for y in range(14) for x in range(20)])
        kinds = {
            "baseline.jpg": (rgb, dict(format="JPEG", quality=80)),
            "progressive.jpg": (rgb, dict(format="JPEG", progressive=True)),
            "gray.jpg": (rgb.convert("L"), dict(format="JPEG")),
            "cmyk.jpg": (rgb.convert("CMYK"), dict(format="JPEG")),
            "rgb.png": (rgb, dict(format="PNG")),
            "gray.png": (rgb.convert("L"), dict(format="PNG")),
            "palette.png": (rgb.convert("P"), dict(format="PNG")),
            "deep.png": (rgb.convert("L").convert("I"), dict(format="PNG")),
            "alpha.png": (rgb.convert("RGBA"), dict(format="PNG")),
            "interlaced.png": (rgb, dict(format="PNG", interlace=1)),
        }
        for name, (im, opts) in kinds.items():
            path = os.path.join(out, "image", name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            im.save(path, **opts)
            cls = "a" if name.endswith(".jpg") else "b"
            os.makedirs(os.path.join(folder, cls), exist_ok=True)
            shutil.copy(path, os.path.join(folder, cls, name))
    else:
        run(zfnet, "filters", "--weights", os.path.join(work, "run", "last.safetensors"), "-o",
            os.path.join(work, "filters"))
        for i, png in enumerate(sorted(glob.glob(os.path.join(work, "filters", "*.png")))):
            shutil.copy(png, os.path.join(out, "image", "filters-%d.png" % i))
            for cls in ("a", "b"):
                os.makedirs(os.path.join(folder, cls), exist_ok=True)
                shutil.copy(png, os.path.join(folder, cls, "%d.png" % i))
    run(zfnet, "pack", folder, "-o", os.path.join(out, "shard", "jpeg"), "--size", "12",
        "--threads", "1")
    run(zfnet, "pack", folder, "-o", os.path.join(out, "shard", "png"), "--size", "10",
        "--channels", "1", "--lossless", "--threads", "1")


def onnx_seeds(zfnet, out, work):
    """The tiny model exported at several opsets, PyTorch's export of a small net (its LRN as
    primitive nodes, its flatten as Shape/Gather/Concat/Reshape), and a zoo-style graph (Reshape
    by a constant shape, MatMul + Add, explicit end pads)."""
    tiny = os.path.join(HERE, "seeds", "tiny.cfg")
    weights = os.path.join(work, "onnx-init.safetensors")
    run(zfnet, "init", tiny, "-o", weights)
    for opset in (7, 9, 11, 13, 17):
        run(zfnet, "export", "--weights", weights, "-o",
            os.path.join(out, "onnx", "tiny-opset%d" % opset), "--opset", str(opset))
    import torch
    import torch.nn as nn
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.LocalResponseNorm(3, 1e-4,
                        0.75, 2.0), nn.MaxPool2d(3, 2, ceil_mode=True), nn.Flatten(),
                        nn.Linear(3 * 6 * 6, 4), nn.Softmax(dim=1))
    for dynamic in (0, 1):
        torch.onnx.export(net, torch.zeros(1, 1, 12, 12),
                          os.path.join(out, "onnx", "torch-%s" % ("dynamic" if dynamic else
                                                                  "fixed")),
                          input_names=["input"], opset_version=13,
                          dynamic_axes={"input": {0: "N"}} if dynamic else None)
    import numpy as np
    from onnx import helper, numpy_helper, TensorProto
    rng = np.random.RandomState(0)
    inits = [numpy_helper.from_array(rng.randn(*s).astype(np.float32), n) for n, s in
             (("w1", (3, 1, 3, 3)), ("b1", (3,)), ("w2", (75, 4)), ("b2", (4,)))]
    inits.append(numpy_helper.from_array(np.array([1, 75], np.int64), "shape"))
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("LRN", ["r"], ["n"], size=3, bias=2.0),
             helper.make_node("MaxPool", ["n"], ["p"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[0, 0, 1, 1]),
             helper.make_node("Reshape", ["p", "shape"], ["f"]),
             helper.make_node("MatMul", ["f", "w2"], ["m"]),
             helper.make_node("Add", ["m", "b2"], ["y"])]
    g = helper.make_graph(nodes, "zoo", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                        [1, 1, 12, 12])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])
    write(os.path.join(out, "onnx", "zoo-style"), m.SerializeToString())


def serve_seeds(out):
    """requests as zfnet serve's parsers see them: fields split at NUL, then a body"""
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    form = (b"--B0und\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n"
            b"--B0und\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--B0und--\r\n")
    cases = {
        "good": [b"127.0.0.1:8765", b"127.0.0.1", b"http://127.0.0.1:8765",
                 b"a=1; zfnet_token=00112233445566778899aabbccddeeff; b=2",
                 b"token 00112233445566778899aabbccddeeff", b"multipart/form-data; boundary=B0und",
                 b"/api/project", b"conv3", form],
        "quoted": [b"[::1]:8765", b"::", b"http://[::1]:8765", b"zfnet_token=",
                   b"Token   x  ", b'multipart/form-data; boundary="B0und"', b"/a//b", b"d17",
                   form.replace(b"--B0und--", b"")],
        "hostile": [b"evil.com:8765", b"0.0.0.0", b"http://evil.com", b";;;=;zfnet_token",
                    b"token", b"multipart/form-data; boundary=" + b"x" * 80, b"/../etc/passwd",
                    b"-12345678901", b"--x\r\n\r\n--x"],
    }
    for name, fields in cases.items():
        write(os.path.join(out, "serve", name), b"\0".join(fields))


def main():
    zfnet, out = os.path.abspath(sys.argv[1]), sys.argv[2]
    for t in ("model", "safetensors", "state", "idx", "cifar", "shard", "image", "onnx", "serve"):
        os.makedirs(os.path.join(out, t), exist_ok=True)
    work = os.path.join(out, ".work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    models(zfnet, out)
    idx_and_training(zfnet, out, work)
    cifar(out)
    images(zfnet, out, work)
    onnx_seeds(zfnet, out, work)
    serve_seeds(out)
    shutil.rmtree(work)
    for t in sorted(os.listdir(out)):
        print("%-12s %d seeds" % (t, len(os.listdir(os.path.join(out, t)))))


if __name__ == "__main__":
    main()
