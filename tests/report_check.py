#!/usr/bin/python3
"""zfnet report, as a reader opens it: a demo-scale run (zfnet demo on 3,000 Fashion-MNIST
training images, 2 epochs) ends with its report, which is then checked

- in headless Chromium: every <img> decoded (naturalWidth > 0), no console message of the page's
  own; a screenshot (report.png) and a PDF print are kept in the work folder;
- as HTML: tidy finds no error or warning; nothing is loaded from outside the report's folder;
  every link to raw data points at an existing file; every in-page link (#id) has its target;
  the section headings are there;
- for its numbers: the model table's total against zfnet summary, the headline's best accuracy
  against metrics.jsonl, the evaluation table against eval/*.json, the confusion matrix's cells
  against the number of images, each top-9 zoom's whole image against the dataset's image;
- with only some outputs (a run folder with the training files alone): only those sections; with
  --compute, the missing analyses are run and their sections appear; a corrupt analysis file
  leaves its section out with a note; -o elsewhere keeps the links right (folder names with
  spaces, '#' and quotes);
- errors: a missing folder, a file, a folder with nothing to report: one line, exit 1, no
  report folder left behind.

Usage: report_check.py ZFNET WORKDIR"""
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, finish, read_idx, run, write_idx  # noqa: E402

ZF, WORK = sys.argv[1], sys.argv[2]
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
FM = "/usr/share/datasets/fashion-mnist/"
ALL = ["The model", "Training", "Evaluation", "Layer-1 filters", "Top-9 activations",
       "Feature evolution", "Occlusion sensitivity", "Invariance", "Correspondence"]
LEARN = "Transfer, probes and ablations"


def p(*names):
    return os.path.join(WORK, *names)


class Page(html.parser.HTMLParser):
    """what a page loads and links to, its ids and headings"""

    def __init__(self):
        super().__init__()
        self.imgs, self.links, self.loads, self.ids, self.h2 = [], [], [], set(), []
        self.in_h2 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag in ("script", "link", "iframe", "object", "embed", "source", "video", "audio"):
            self.loads.append(a.get("src") or a.get("href") or tag)
        if "style" in a and "url(" in a["style"]:
            self.loads.append(a["style"])
        self.in_h2 = tag == "h2"

    def handle_endtag(self, tag):
        self.in_h2 = False if tag == "h2" else self.in_h2

    def handle_data(self, data):
        if self.in_h2:
            self.h2.append(data.strip())


def parse(index):
    page = Page()
    with open(index, encoding="utf-8") as f:
        text = f.read()
    page.feed(text)
    return page, text


CHECKER = """<script>
window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                                     .map(i => i.getAttribute("src"));
  const d = document.createElement("pre");
  d.id = "zfcheck";
  d.textContent = JSON.stringify({images: document.images.length, broken: broken});
  document.body.appendChild(d);
  console.log("zfcheck done");
});
</script></body>"""


def chromium(args, url):
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--hide-scrollbars", "--enable-logging=stderr", "--v=0"] + args + [url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def browser_check(index, what):
    """the page with a checker appended (a copy beside it, removed after), in Chromium"""
    copy = os.path.join(os.path.dirname(index), "zfcheck.html")
    with open(index, encoding="utf-8") as f:
        text = f.read()
    with open(copy, "w", encoding="utf-8") as f:
        f.write(text.replace("</body>", CHECKER))
    r = chromium(["--virtual-time-budget=20000", "--dump-dom"], "file://" + copy)
    os.remove(copy)
    m = re.search(r'<pre id="zfcheck">(.*?)</pre>', r.stdout)
    res = json.loads(m.group(1).replace("&quot;", '"')) if m else None
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln and "zfcheck done" not in ln]
    page, _ = parse(index)
    check(res is not None and res["images"] == len(page.imgs) and not res["broken"],
          f"{what}: Chromium decodes all {len(page.imgs)} images (naturalWidth > 0); broken: "
          f"{res and res['broken'][:5]}")
    check(m is not None and not console, f"{what}: no console messages from the page {console[:3]}")


def static_checks(index, run_dir, headings, what):
    page, text = parse(index)
    base = os.path.dirname(os.path.abspath(index))
    check(page.h2 == headings, f"{what}: sections {page.h2}")
    imgs = [urllib.parse.unquote(s) for s in page.imgs]
    outside = [s for s in imgs if re.match(r"^[a-z]+:|^/|\.\.", s)
               or not os.path.realpath(os.path.join(base, s)).startswith(base + os.sep)
               or not os.path.isfile(os.path.join(base, s))]
    check(not outside and not page.loads,
          f"{what}: all {len(page.imgs)} images are files inside the report's folder; nothing "
          f"else loaded {outside[:3]} {page.loads[:3]}")
    raw = [urllib.parse.unquote(h) for h in page.links if not h.startswith("#")]
    bad = [h for h in raw if re.match(r"^[a-z]+:", h) or not os.path.exists(os.path.join(base, h))]
    inside_run = all(os.path.realpath(os.path.join(base, h)).startswith(
        os.path.realpath(run_dir)) for h in raw)
    check(raw and not bad and inside_run,
          f"{what}: all {len(raw)} links to raw data point at existing files of the run {bad[:3]}")
    anchors = [h[1:] for h in page.links if h.startswith("#")]
    check(all(a in page.ids for a in anchors), f"{what}: all {len(anchors)} in-page links have "
          "their targets")
    t = subprocess.run(["tidy", "-e", "-q", index], capture_output=True, text=True)
    check(t.returncode == 0 and not t.stderr.strip(), f"{what}: tidy finds nothing: "
          f"{t.stderr.strip()[:300]}")
    return page, text


def number_checks(demo, text):
    out = run(ZF, ["summary", "zfnet-mini"])
    total = re.search(r"total: ([\d,]+) parameters", out.stdout)
    check(total and f"<th>{total.group(1)}</th>" in text,
          f"the model table's total = zfnet summary's ({total and total.group(1)})")
    metrics = [json.loads(line) for line in open(os.path.join(demo, "metrics.jsonl"))]
    best = max(m["test_accuracy"] for m in metrics)
    check(f"<b>{100 * best:.2f}%</b>" in text, f"the headline's best accuracy {100 * best:.2f}%")
    for name in ("centre", "ten-crop"):
        e = json.load(open(os.path.join(demo, "eval", name + ".json")))
        row = f"<td>{e['images']}</td><td>{100 * e['top1_error']:.2f}</td>" \
              f"<td>{100 * e['top5_error']:.2f}</td>"
        check(row in text and e["command"].startswith("zfnet eval"),
              f"evaluation row {name}: {100 * e['top1_error']:.2f}% top-1 error, with its command")
    conf = re.findall(r"<td style='background:rgba\(33,102,172,[0-9.]+\)[^']*'>(\d+)</td>", text)
    check(len(conf) == 100 and sum(map(int, conf)) == 1000,
          f"confusion matrix: {len(conf)} cells holding {sum(map(int, conf))} images")
    t9 = json.load(open(os.path.join(demo, "top9", "top9.json")))
    test = read_idx(p("te-images-idx3-ubyte.gz"))
    zooms = re.findall(r"<div class='zoom' id='z-(\w+)-(\d+)-(\d+)'>.*?<img class='px' "
                       r"src='([^']+)' alt='input'>", text)
    same = 0
    for layer, m, j, src in zooms:
        entry = next(x for x in t9[layer]["maps"] if x["map"] == int(m))["top"][int(j)]
        img = np.asarray(Image.open(os.path.join(demo, "report", src)).convert("L"))
        same += np.array_equal(img, test[entry["index"]])
    n = sum(len(x["top"]) for k, v in t9.items() if isinstance(v, dict) for x in v["maps"])
    check(len(zooms) == n and same == n,
          f"top-9: {len(zooms)} zoom views for {n} entries; the whole image = the test set's "
          f"image in {same}")


def round_ticks(svg, what, epochs=False):
    """Every chart panel's tick labels (svg_panel's: font-size 10, y ticks right-aligned, x ticks
    centred) step by 1, 2 or 5 times a power of ten, with no more decimals than the step needs;
    with epochs, x ticks are whole numbers and no y tick is negative (loss, accuracy, rate)."""
    t = r"<text x='([\d.]+)' y='([\d.]+)' font-size='10' text-anchor='{}'>([^<]*)</text>"
    panels = []  # (axis, labels): a panel's ticks increase; a smaller value starts the next
    for axis, found in (("y", [(x, v) for x, _, v in re.findall(t.format("end"), svg)]),
                        ("x", [(y, v) for _, y, v in re.findall(t.format("middle"), svg)])):
        for at, v in found:
            last = panels[-1] if panels and panels[-1][0] == axis else None
            if last and last[1] == at and float(v) > float(last[2][-1]):
                last[2].append(v)
            else:
                panels.append((axis, at, [v]))
    bad = []
    for axis, _, labels in panels:
        vals = [float(v) for v in labels]
        steps = {round(b - a, 12) for a, b in zip(vals, vals[1:])}
        decimals = max(len(v.split(".")[1]) if "." in v else 0 for v in labels)
        for step in steps:
            m = step / 10 ** np.floor(np.log10(step)) if step > 0 else 0
            if len(steps) > 1 or min(abs(m - k) for k in (1, 2, 5)) > 1e-6 or \
                    decimals > max(0, -int(np.floor(np.log10(step)))):
                bad.append(f"{axis}: {labels}")
        if epochs and axis == "x" and any(v != int(v) for v in vals):
            bad.append(f"epochs {labels}")
        if epochs and axis == "y" and min(vals) < 0:
            bad.append(f"negative {labels}")
    check(panels and not bad, f"{what}: round ticks on {len(panels)} axes {bad[:3]}")


# ---- the demo at a small scale -----------------------------------------------------------
x, y = read_idx(FM + "train-images-idx3-ubyte.gz"), read_idx(FM + "train-labels-idx1-ubyte.gz")
xt, yt = read_idx(FM + "t10k-images-idx3-ubyte.gz"), read_idx(FM + "t10k-labels-idx1-ubyte.gz")
write_idx(p("tr-images-idx3-ubyte.gz"), x[:3000])
write_idx(p("tr-labels-idx1-ubyte.gz"), y[:3000])
write_idx(p("te-images-idx3-ubyte.gz"), xt[:1000])
write_idx(p("te-labels-idx1-ubyte.gz"), yt[:1000])
demo = p("demo")
r = run(ZF, ["demo", "--train", p("tr-images-idx3-ubyte.gz"), "--test",
             p("te-images-idx3-ubyte.gz"), "--epochs", "2", "--snapshot-epochs", "1,2", "-o", demo],
        tail=600)
index = os.path.join(demo, "report", "index.html")
check(r.returncode == 0 and f"report: {demo}/report/index.html" in r.stdout
      and os.path.isfile(index), "zfnet demo ends with the report and prints its path")
page, text = static_checks(index, demo, ALL, "demo report")
number_checks(demo, text)
round_ticks(open(os.path.join(demo, "curves.svg")).read(), "curves.svg", epochs=True)
round_ticks(text.split("id='training'")[1].split("</figure>")[0], "the report's training charts",
            epochs=True)
for name in sorted(os.listdir(os.path.join(demo, "invariance"))):
    if name.endswith(".svg"):
        round_ticks(open(os.path.join(demo, "invariance", name)).read(), f"invariance/{name}")
row = lambda k: re.search(rf"<th class='l'>{k}</th><td class='l'>([^<]*)</td>", text)  # noqa: E731
check(row("init") and row("init").group(1) == "he" and row("flip").group(1) == "yes"
      and row("lr_plateau").group(1) == "no" and not row("init_std"),
      "the recipe table names the initialisation (he), says yes/no for switches, no init_std")
browser_check(index, "demo report")
shot = chromium(["--window-size=1280,1600", "--screenshot=" + p("report.png")],
                "file://" + os.path.abspath(index))
zoom = chromium(["--window-size=1100,700", "--screenshot=" + p("report-zoom.png")],
                "file://" + os.path.abspath(index) + "#z-conv3-" + re.search(
                    r"id='z-conv3-(\d+)-0'", text).group(1) + "-0")
pdf = chromium(["--print-to-pdf=" + p("report.pdf"), "--no-pdf-header-footer"],
               "file://" + os.path.abspath(index))
ok = all(os.path.isfile(p(f)) and os.path.getsize(p(f)) > 10000
         for f in ("report.png", "report-zoom.png", "report.pdf"))
check(ok and open(p("report.pdf"), "rb").read(4) == b"%PDF",
      "a screenshot, a zoomed tile's screenshot and a PDF print are kept: " + p("report.png"))

# transfer, probe and ablation results inside the run folder: their tables
tr, te = p("tr-images-idx3-ubyte.gz"), p("te-images-idx3-ubyte.gz")
best = os.path.join(demo, "best.safetensors")
run(ZF, ["transfer", "--weights", best, "--train", tr, "--test", te, "--folds", "1",
         "--test-per-class", "20", "--curve", "1,2", "-o", os.path.join(demo, "transfer")],
    tail=300)
run(ZF, ["probe", "--weights", best, "--train", tr, "--test", te, "--per-class", "5", "--folds",
         "1", "--layers", "conv2,fc7", "-o", os.path.join(demo, "probe")], tail=300)
with open(p("variants.txt"), "w") as f:
    f.write("base:\nno-7: remove fc7\n")
run(ZF, ["ablate", "--variants", p("variants.txt"), "--train", tr, "--test", te, "--epochs", "1",
         "-o", os.path.join(demo, "ablate")], tail=300)
r = run(ZF, ["report", demo])
page, text = static_checks(index, demo, ALL + [LEARN],
                           "with transfer, probe, ablation")
tj = json.load(open(os.path.join(demo, "transfer", "transfer.json")))
pj = json.load(open(os.path.join(demo, "probe", "probe.json")))
aj = json.load(open(os.path.join(demo, "ablate", "ablation.json")))
cells = [f"<td>{100 * run_['mean']:.2f} &plusmn; {100 * run_['std']:.2f}</td>"
         for run_ in tj["runs"]]
cells += [f"<td>{100 * lay['svm']['mean']:.2f}" for lay in pj["runs"][0]["layers"]]
cells += [f"<td class='l'>{row['variant']}</td><td>{row['params']}</td>"
          f"<td>{100 * row['train_top1_error']:.2f}</td>" for row in aj["rows"]]
check(r.returncode == 0 and all(c in text for c in cells) and "assets/transfer/curve.svg" in text,
      f"transfer ({len(tj['runs'])} runs), probe and ablation ({len(aj['rows'])} variants) "
      "tables hold the JSON's numbers; the transfer curve is shown")
browser_check(index, "with transfer, probe, ablation")

# ---- some outputs only, then --compute --------------------------------------------------
part = p("part")
os.makedirs(part)
for f in ("metrics.jsonl", "state.safetensors", "best.safetensors", "last.safetensors",
          "epoch-1.safetensors", "epoch-2.safetensors"):
    shutil.copy(os.path.join(demo, f), part)
r = run(ZF, ["report", part])
static_checks(os.path.join(part, "report", "index.html"), part, ["The model", "Training"],
              "training files only")
browser_check(os.path.join(part, "report", "index.html"), "training files only")
r = run(ZF, ["report", part, "--compute"], tail=300)
got, _ = parse(os.path.join(part, "report", "index.html"))
check(r.returncode == 0 and got.h2 == ALL[:-1],
      f"--compute runs the missing analyses (correspondence needs Fashion-MNIST by name): {got.h2}")

# a corrupt analysis file; the report elsewhere, names with spaces, '#' and quotes
bad = p("bad run #1")
shutil.copytree(demo, bad, ignore=shutil.ignore_patterns("report"))
with open(os.path.join(bad, "filters", "filters.json"), "r+") as f:
    f.truncate(40)
t9 = json.load(open(os.path.join(bad, "top9", "top9.json")))
t9["conv2"]["maps"][0]["top"][0]["input_png"] = "../../../../../../etc/passwd"
json.dump(t9, open(os.path.join(bad, "top9", "top9.json"), "w"))
elsewhere = p("else where", "r 'x'")
os.makedirs(os.path.dirname(elsewhere))
r = run(ZF, ["report", bad, "-o", elsewhere])
check(r.returncode == 0 and "filters.json" in r.stderr and "left out" in r.stderr,
      "a truncated filters.json: a note on stderr, the report still written")
static_checks(os.path.join(elsewhere, "index.html"), bad,
              [h for h in ALL + [LEARN] if h != "Layer-1 filters"],
              "report elsewhere, filters left out")
browser_check(os.path.join(elsewhere, "index.html"), "report elsewhere")
_, text = parse(os.path.join(elsewhere, "index.html"))
copied = [os.path.join(d, f) for d, _, fs in os.walk(elsewhere) for f in fs]
check("src='assets/top9/conv2.png'" in text and "src='assets/top9/conv3.png'" not in text
      and not any("passwd" in c for c in copied),
      "a top9.json entry naming a file outside the run: that layer shown as its grid picture, "
      "nothing outside copied")

# an ablation folder itself: the table, not each variant's own variant.json
r = run(ZF, ["report", os.path.join(demo, "ablate")])
page, text = parse(os.path.join(demo, "ablate", "report", "index.html"))
check(r.returncode == 0 and page.h2 == ["Transfer, probes and ablations"]
      and text.count("<h3>") == 1, "an ablation folder: one table (its variants' files skipped)")

# ---- errors --------------------------------------------------------------------------------
empty = p("empty")
os.makedirs(empty)
for args, frag in ((["report", p("nowhere")], "No such file or directory"),
                   (["report", os.path.join(demo, "metrics.jsonl")], "not a folder"),
                   (["report", empty], "nothing to report")):
    r = run(ZF, args)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 1 and len(lines) == 1 and frag in lines[0]
          and not os.path.exists(os.path.join(empty, "report")),
          f"{args[1]}: one line ({frag}), exit 1, no report folder left")
finish()
