#!/usr/bin/env node
// Runs an ONNX model in onnxruntime (onnxruntime-node from tests/ort/node_modules: install it
// with `cd tests/ort && npm ci --ignore-scripts`) for tests/onnx_check.py.
//
// usage: node tests/ort_run.js MODEL.onnx IN.json OUT.json
//
// IN.json:  {"inputs": {"NAME": {"dims": [1, 3, 224, 224], "file": "x.f32", "type": "float32"}},
//            "outputs": ["NAME", ...],          optional: default every graph output
//            "threads": 1,                      optional: intra-op threads (default 1)
//            "optimization": "disabled"}        optional: disabled (default), basic
// Input files hold raw little-endian data (float32 unless "type" says int64, int32, uint8
// or bool); a relative "file" is taken relative to IN.json's folder.
// OUT.json: {"outputs": {"NAME": {"dims": [...], "type": "float32", "file": "OUT.json.0.bin"}},
//            "inputs": [graph input names], "graph_outputs": [graph output names]}
// with each output's raw little-endian data in a file next to OUT.json.
// On any error: one line "ort_run: ..." on stderr and exit 1.
'use strict';
const fs = require('fs');
const path = require('path');

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array,
  uint8: Uint8Array, int8: Int8Array, bool: Uint8Array,
};

function fail(msg) {
  process.stderr.write('ort_run: ' + String(msg).split('\n')[0] + '\n');
  process.exit(1);
}

function typedFrom(buf, type, count, what) {
  const T = ARRAYS[type];
  if (!T) fail(`${what}: unsupported type '${type}'`);
  if (buf.length !== count * T.BYTES_PER_ELEMENT) {
    fail(`${what}: ${buf.length} bytes, expected ${count * T.BYTES_PER_ELEMENT}`);
  }
  // copy into an aligned buffer (Buffer's offset into its pool may be unaligned)
  const ab = new ArrayBuffer(buf.length);
  new Uint8Array(ab).set(buf);
  return new T(ab);
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length !== 3) fail('usage: node ort_run.js MODEL.onnx IN.json OUT.json');
  const [modelPath, inPath, outPath] = args;
  let ort;
  try {
    ort = require(path.join(__dirname, 'ort', 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    fail('onnxruntime-node not found in tests/ort/node_modules ' +
         '(cd tests/ort && npm ci --ignore-scripts): ' + e.message);
  }
  let spec;
  try {
    spec = JSON.parse(fs.readFileSync(inPath, 'utf8'));
  } catch (e) {
    fail(`${inPath}: ${e.message}`);
  }
  const inDir = path.dirname(path.resolve(inPath));
  const feeds = {};
  for (const [name, d] of Object.entries(spec.inputs || {})) {
    const type = d.type || 'float32';
    const dims = d.dims.map(Number);
    const count = dims.reduce((a, b) => a * b, 1);
    const file = path.isAbsolute(d.file) ? d.file : path.join(inDir, d.file);
    const data = typedFrom(fs.readFileSync(file), type, count, `input '${name}' (${file})`);
    feeds[name] = new ort.Tensor(type, data, dims);
  }
  const options = {
    graphOptimizationLevel: spec.optimization || 'disabled',
    intraOpNumThreads: spec.threads || 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    executionProviders: ['cpu'],
    logSeverityLevel: 3,
  };
  let session;
  try {
    session = await ort.InferenceSession.create(modelPath, options);
  } catch (e) {
    fail(`${modelPath}: cannot create a session: ${e.message}`);
  }
  const wanted = spec.outputs && spec.outputs.length ? spec.outputs : session.outputNames;
  let results;
  try {
    results = await session.run(feeds, wanted);
  } catch (e) {
    fail(`${modelPath}: run failed: ${e.message}`);
  }
  const out = { outputs: {}, inputs: session.inputNames, graph_outputs: session.outputNames };
  wanted.forEach((name, i) => {
    const t = results[name];
    const file = `${path.basename(outPath)}.${i}.bin`;
    const d = t.data;
    fs.writeFileSync(path.join(path.dirname(path.resolve(outPath)), file),
                     Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    out.outputs[name] = { dims: t.dims.map(Number), type: t.type, file };
  });
  fs.writeFileSync(outPath, JSON.stringify(out));
  if (session.release) await session.release();
}

main().catch((e) => fail(e && e.message ? e.message : e));
