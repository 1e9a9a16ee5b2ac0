// zfnet serve's page in a real browser: Debian's chromium, headless, driven by puppeteer-core.
// It opens the URL zfnet serve prints, picks a dataset image, changes the layer, clicks a tile
// of the layer's maps, switches the rule, uploads a PNG, uses the keyboard, saves the
// projection, reloads the address (the view comes back), and fails on any console error or
// page exception. Screenshots go to WORK (looked at by a person, kept by the test).
//   node serve_page.js ZFNET RUN_DIR IMAGE.png WORK
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const path = require("path");
const puppeteer = require("puppeteer-core");

const [zfnet, run, png, work] = process.argv.slice(2);
const results = [];
function check(ok, what) {
  results.push([ok, what]);
  console.log((ok ? "ok   " : "FAIL ") + what);
}

function startServer() {
  return new Promise((resolve, reject) => {
    const p = spawn(zfnet, ["serve", run, "--port", "0", "--quiet"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/open (http:\/\/\S+)/);
      if (m) resolve({ p, url: m[1], err: () => err });
    });
    p.stderr.on("data", (d) => { err += d; });
    p.on("exit", (code) => reject(new Error(`zfnet serve exited (${code}): ${err}`)));
  });
}

async function settled(page) { // every request the page started has been answered
  await page.waitForNetworkIdle({ idleTime: 300, timeout: 20000 });
}

async function main() {
  fs.mkdirSync(work, { recursive: true });
  const server = await startServer();
  const browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1300 });
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    const cdp = await page.createCDPSession();
    await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: work });

    await page.goto(server.url, { waitUntil: "networkidle0" });
    check(!page.url().includes("token="), "the token left the address for a cookie");
    await page.waitForSelector("#thumbs img[src]");
    await settled(page);
    const thumbs = await page.$$("#thumbs img");
    check(thumbs.length >= 20, `dataset thumbnails (${thumbs.length})`);
    await page.screenshot({ path: path.join(work, "1-start.png") });

    await thumbs[3].click(); // a dataset image
    await settled(page);
    const top = await page.$eval("#top5", (e) => e.innerText);
    check(/%/.test(top) && (await page.$eval("#thumbs img.on", (e) => e.dataset.id)) === "d3",
          `a dataset image picked; its prediction: ${top.split("\n")[0]}`);

    await page.select("#layer", "conv5");
    await settled(page);
    const sheet = await page.$eval("#sheet", (e) => [e.naturalWidth, e.clientWidth]);
    check(sheet[0] > 0, `conv5's maps as tiles (${sheet[0]} px)`);
    const box = await (await page.$("#sheet")).boundingBox();
    const before = await page.$eval("#proj", (e) => e.src);
    await page.mouse.click(box.x + box.width * 0.55, box.y + box.height * 0.3);
    await settled(page);
    const map = await page.$eval("#map", (e) => e.value);
    check(map !== "" && (await page.$eval("#proj", (e) => e.src)) !== before &&
          (await page.$eval("#mark", (e) => e.style.display)) === "block",
          `a tile clicked: map ${map} projected and marked`);
    await page.keyboard.down("Shift");
    await page.mouse.click(box.x + box.width * 0.1, box.y + box.height * 0.1);
    await page.keyboard.up("Shift");
    await settled(page);
    check(/unit \(/.test(await page.$eval("#status", (e) => e.textContent)),
          "a shift-click projects one unit");
    await page.click("#top9go"); // the map's top 9 over the dataset, as a task with progress
    await page.waitForSelector("#top9 img", { timeout: 60000 });
    await settled(page);
    check((await page.$eval("#top9msg", (e) => e.textContent)) === "done" &&
          (await page.$eval("#top9 img", (e) => e.naturalWidth)) > 0, "the map's top 9 scanned");
    await page.click("#occgo");
    await page.waitForFunction(() => document.querySelector("#occ").naturalWidth > 0,
                               { timeout: 60000 });
    check(/without the square/.test(await page.$eval("#occmsg", (e) => e.textContent)),
          "occlusion computed and shown");
    await page.screenshot({ path: path.join(work, "2-conv5.png"), fullPage: true });

    const src = await page.$eval("#proj", (e) => e.src);
    await page.click("input[name=rule][value=guided]");
    await settled(page);
    check((await page.$eval("#proj", (e) => e.src)) !== src &&
          /guided/.test(await page.$eval("#status", (e) => e.textContent)), "the rule switched");
    await page.keyboard.press("j");
    await settled(page);
    const next = await page.$eval("#map", (e) => e.value);
    await page.keyboard.press("K"); // the layer before conv5
    await settled(page);
        check(next !== "" && (await page.$eval("#layer", (e) => e.value)) !== "conv5",
          `keys: j the next map (${next}), K the previous layer`);
    await page.keyboard.press("j");
    await settled(page);
    await page.keyboard.press("ArrowRight");
    await settled(page);
    check(/unit \(\d+, \d+\)/.test(await page.$eval("#status", (e) => e.textContent)),
          "an arrow key moves to a unit of the map");

        // the snapshot slider: epoch 1's weights, then back
    const snaps = await page.$eval("#snap", (e) => +e.max);
    if (snaps > 0) {
      const f = await page.$eval("#filters", (e) => e.src);
      await page.$eval("#snap", (e) => { e.value = 0; e.dispatchEvent(new Event("change")); });
      await settled(page);
      check((await page.$eval("#snapname", (e) => e.textContent)).startsWith("epoch") &&
            (await page.$eval("#filters", (e) => e.src)) !== f &&
            /snapshot=0/.test(page.url()), "the snapshot slider: an epoch's weights, in the address");
      await page.screenshot({ path: path.join(work, "3-snapshot.png"), fullPage: true });
      await page.$eval("#snap", (e) => { e.value = e.max; e.dispatchEvent(new Event("change")); });
      await settled(page);
    } else check(false, "the run has snapshots for the slider");

    // the (fake) camera: frames uploaded and shown as the input
    await page.click("#camera");
    await page.waitForFunction(() => /image=u/.test(location.hash), { timeout: 30000 });
    await page.click("#camera"); // stop it
    await new Promise((r) => setTimeout(r, 700));
    await settled(page);
    check((await page.$eval("#camera", (e) => e.textContent)) === "camera",
          "the camera: a frame uploaded and shown as the input, then stopped");

    const input = await page.$("#file");
    await input.uploadFile(png);
    await settled(page);
    const id = await page.evaluate(() => new URLSearchParams(location.hash.slice(1)).get("image"));
    check(/^u[0-9a-f]{16}$/.test(id || ""), `a PNG uploaded (${id}) and shown`);
        await page.screenshot({ path: path.join(work, "4-upload.png") });

    await page.click("#savepng");
    let saved = "";
    for (let i = 0; i < 50 && !saved; i++) {
      await new Promise((r) => setTimeout(r, 100));
      saved = fs.readdirSync(work).find((f) => f.startsWith(id + "-") && f.endsWith(".png")) || "";
    }
    const head = saved ? fs.readFileSync(path.join(work, saved)).subarray(0, 8) : Buffer.alloc(0);
    check(head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
          `the projection saved as a PNG (${saved})`);

    const view = page.url(), shown = () => page.evaluate(() =>
      [document.querySelector("#layer").value, document.querySelector("#map").value,
       document.querySelector("input[name=rule]:checked").value,
       document.querySelector("#thumbs img.on") ? "" : "upload"].join(" "));
    const was = await shown();
    await page.goto("about:blank");
    await page.goto(view, { waitUntil: "networkidle0" });
    await settled(page);
    const now = await shown();
    check(now === was && (await page.$eval("#proj", (e) => e.naturalWidth)) > 0,
          `the address reopens the view (${now})`);
        await page.screenshot({ path: path.join(work, "5-reopened.png") });
    check(errors.length === 0, `no console error or page exception (${errors.join("; ")})`);
  } finally {
    await browser.close();
    server.p.kill("SIGTERM");
  }
  const failed = results.filter((r) => !r[0]);
  console.log(failed.length ? "FAILED" : "PASSED");
  process.exit(failed.length ? 1 : 0);
}

main().catch((e) => { console.log("FAIL " + e.message); console.log("FAILED"); process.exit(1); });
