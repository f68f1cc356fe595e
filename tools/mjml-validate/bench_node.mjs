// Renders the MJML read on stdin N times with the official MJML (warm, in-process) and prints
// {"n", "median_ms", "min_ms", "bytes"} as JSON. Used by bench/bench_render.py.
//   node tools/mjml-validate/bench_node.mjs [N] [WARMUP] < edition.mjml
import { readFileSync } from "node:fs";
import mjml2html from "mjml";

const n = Number(process.argv[2] || 200);
const warmup = Number(process.argv[3] || 10);
const source = readFileSync(0, "utf8");
let html = "";
for (let i = 0; i < warmup; i++) html = (await mjml2html(source, { validationLevel: "skip" })).html;
const times = [];
for (let i = 0; i < n; i++) {
  const start = process.hrtime.bigint();
  html = (await mjml2html(source, { validationLevel: "skip" })).html;
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ n, median_ms: times[Math.floor(n / 2)], min_ms: times[0], bytes: Buffer.byteLength(html) }));
