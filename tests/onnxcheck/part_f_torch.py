"""onnx_check, part f: PyTorch's export of zfnet-mini.

zfnet-mini built by tests/torch/zftorch.py, trained 60 steps, exported by torch.onnx.export
(opset 13; dynamic batch and fixed batch; LocalResponseNorm becomes ~40 primitive nodes):
imported, every layer vs PyTorch within 1e-4 relative; five look-alikes of that LRN chain are
refused (a clean failure, exit 1).
"""
import os
import time

import numpy as np
import onnx

from .common import (HERE, P, check, compare_layers, forward, import_onnx, imported, layers_of,
                     ort_run, refused, rel_close, show, tl, zt)

KEY, TITLE = "f", "f. PyTorch's export of zfnet-mini"


def run():
    import warnings
    import torch
    warnings.filterwarnings("ignore")
    torch.manual_seed(3)
    with open(os.path.join(HERE, "..", "models", "zfnet-mini.cfg")) as fh:
        text = fh.read()
    _, mods = zt.build(text)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleDict({n: m for n, _, m in mods})

        def forward(self, x):
            for m in self.layers.values():
                x = m(x)
            return x

    net = Net()
    # trained in PyTorch: 60 SGD steps of batch 32 on Fashion-MNIST (cross-entropy on the
    # softmax's log), so the export carries trained weights, not an initialisation
    import gzip
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as fh:
        imgs = np.frombuffer(fh.read(), np.uint8, offset=16)[:60 * 32 * 784]
    with gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8)[:60 * 32]
    xs = torch.from_numpy(imgs.reshape(-1, 1, 28, 28).astype(np.float32) / 255 - 0.29)
    ys = torch.from_numpy(labels.astype(np.int64))
    for mod in net.modules():  # He initialisation, as zfnet train --init he
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(mod.weight)
            torch.nn.init.zeros_(mod.bias)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    net.train()
    losses = []
    for b in range(60):
        opt.zero_grad()
        p = net(xs[b * 32:(b + 1) * 32])
        loss = torch.nn.functional.nll_loss(torch.log(p + 1e-12), ys[b * 32:(b + 1) * 32])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    check(np.mean(losses[-10:]) < np.mean(losses[:10]),
          f"torch: 60 training steps lower the loss ({np.mean(losses[:10]):.3f} -> "
          f"{np.mean(losses[-10:]):.3f})")
    net = net.eval()
    kinds = [(k, n) for n, k, _ in mods if k != "dropout"]  # eval(): torch drops Dropout
    print("torch 1.13's export of LocalResponseNorm is a chain of primitive nodes; the importer "
          "is to recognise it")
    for tag, dynamic, n_export, n_run in (("dynamic", True, 2, 3), ("fixed", False, 2, 2)):
        path = P(f"f_{tag}.onnx")
        x0 = torch.randn(n_export, 1, 28, 28)
        kw = {"dynamic_axes": {"input": {0: "N"}, "prob": {0: "N"}}} if dynamic else {}
        torch.onnx.export(net, x0, path, input_names=["input"], output_names=["prob"],
                          opset_version=13, **kw)
        m = onnx.load(path)
        from collections import Counter
        ops = Counter(nd.op_type for nd in m.graph.node)
        print(f"  {tag}: {len(m.graph.node)} nodes: " + ", ".join(f"{k} {v}"
                                                                  for k, v in ops.most_common()))
        x = torch.randn(n_run, 1, 28, 28)
        with torch.no_grad():
            _, outs = zt.run(mods, x)
        ref = {n: t.numpy() for n, t in outs.items()}
        if dynamic:  # the reference itself: onnxruntime on torch's file
            o = ort_run(path, {"input": x.numpy()}, ["prob"], f"f_{tag}")
            ok, err, _ = rel_close(o["prob"], ref["prob"]) if o else (False, float("inf"), 0)
            check(ok, f"torch {tag}: onnxruntime on torch's file == torch (max err {err:.3g})")
        outdir = P(f"f_{tag}.d")
        t0 = time.time()
        r = import_onnx(path, outdir)
        if not check(r.returncode == 0, f"torch {tag}: import ({time.time() - t0:.1f} s): "
                                        f"{show(r)}"):
            continue
        cfg, wi, itext = imported(outdir)
        got = layers_of(itext)
        kinds_ok = [k for k, _ in got] == [k for k, _ in kinds]
        check(kinds_ok, f"torch {tag}: imported layers are zfnet-mini's but its dropout "
                        f"({' '.join(k for k, _ in got)})")
        _, lr = zt.parse_cfg(itext)
        lrn = [p for k, p in lr if k == "lrn"]
        check(len(lrn) == 2 and all(int(p["size"]) == 5 and abs(float(p["alpha"]) - 1e-4) < 1e-9
                                    and abs(float(p["beta"]) - 0.75) < 1e-9
                                    and abs(float(p["k"]) - 2) < 1e-9 for p in lrn),
              f"torch {tag}: both LRN chains recognised as size 5, alpha 1e-4, beta 0.75, k 2 "
              f"({[(p.get('size'), p.get('alpha'), p.get('beta'), p.get('k')) for p in lrn]})")
        y = forward(cfg, wi, x.numpy(), f"f_{tag}")
        if not check(y is not None, f"torch {tag}: zfnet forward on {n_run} images"):
            continue
        pairs = ([(zn, tn) for (_, zn), (_, tn) in zip(got, kinds)] if kinds_ok
                 else [(got[-1][1], "prob")])
        compare_layers(y, ref, pairs, f"torch {tag} vs PyTorch")
        if dynamic:
            lrn_lookalikes(path)


def lrn_lookalikes(path):
    """torch's LRN chain changed in one place each: not an LRN any more, so refused."""
    from onnx import numpy_helper as nh

    def const_of(m, pred):
        for nd in m.graph.node:
            if nd.op_type == "Constant":
                v = nh.to_array(nd.attribute[0].t)
                if pred(v):
                    return nd
        return None

    def one_sided(m):  # the channel padding (2, 2) made (4, 0)
        nd = const_of(m, lambda v: v.dtype == np.int64 and v.shape == (6,))
        nd.attribute[0].t.CopyFrom(nh.from_array(np.array([0, 0, 0, 0, 4, 0], np.int64)))

    def edge(m):
        pad = [nd for nd in m.graph.node if nd.op_type == "Pad"][0]
        pad.attribute[0].s = b"edge"

    def doubled(m):  # an extra Mul by 2 before alpha's
        mul = [nd for nd in m.graph.node if nd.op_type == "Mul" and nd.input[0] != nd.input[1]][0]
        two = onnx.helper.make_tensor("two", onnx.TensorProto.FLOAT, [], [2.0])
        m.graph.initializer.append(two)
        m.graph.node.insert(list(m.graph.node).index(mul), onnx.helper.make_node(
            "Mul", [mul.input[0], "two"], ["doubled"], name="doubled"))
        mul.input[0] = "doubled"

    def avg_pads(m):
        avg = [nd for nd in m.graph.node if nd.op_type == "AveragePool"][0]
        [a for a in avg.attribute if a.name == "pads"][0].ints[:] = [1, 0, 0, 1, 0, 0]

    def cubed(m):  # x*x*x: the square feeds another Mul
        sq = [nd for nd in m.graph.node if nd.op_type == "Mul" and nd.input[0] == nd.input[1]][0]
        m.graph.node.insert(list(m.graph.node).index(sq) + 1, onnx.helper.make_node(
            "Mul", [sq.output[0], sq.input[0]], ["cubed"], name="cubed"))
        for nd in m.graph.node:
            if nd.name != "cubed":
                nd.input[:] = ["cubed" if i == sq.output[0] else i for i in nd.input]

    for tag, edit_fn in (("one-sided", one_sided), ("edge", edge), ("doubled", doubled),
                         ("avgpool-pads", avg_pads), ("cubed", cubed)):
        m = onnx.load(path)
        edit_fn(m)
        bad = P(f"f_lrn_{tag}.onnx")
        onnx.save(m, bad)
        before = tl.snapshot(P())
        r = import_onnx(bad, P(f"f_lrn_{tag}.d"))
        ok, why = refused(r, P(f"f_lrn_{tag}.d"), need="LRN pattern", since=before)
        check(ok, f"torch's LRN chain, {tag}: refused, not read as an LRN "
                  f"({why + ': ' if why else ''}{show(r, 200)})")
