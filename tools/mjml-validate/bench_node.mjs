// Renders the MJML in the file named on the command line with the official MJML, warm and
// in-process, in rounds asked for on stdin, so that bench/bench_render.py can interleave them
// with its own renders (the machine's speed drifts; both sides then see the same drift).
//   node tools/mjml-validate/bench_node.mjs edition.mjml [WARMUP]
// Prints {"ready": true, "bytes": N} once warm; then for each stdin line "LEVEL N" (LEVEL is
// an MJML validationLevel: skip, soft or strict) renders N times and prints the times in ms
// as a JSON array. Ends at end of input.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import mjml2html from "mjml";

const source = readFileSync(process.argv[2], "utf8");
const warmup = Number(process.argv[3] || 10);
let html = "";
for (const level of ["skip", "soft"]) {
  for (let i = 0; i < warmup; i++) html = (await mjml2html(source, { validationLevel: level })).html;
}
console.log(JSON.stringify({ ready: true, bytes: Buffer.byteLength(html) }));

for await (const line of createInterface({ input: process.stdin })) {
  const [level, count] = line.trim().split(/\s+/);
  const times = [];
  for (let i = 0; i < Number(count); i++) {
    const start = process.hrtime.bigint();
    await mjml2html(source, { validationLevel: level });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  console.log(JSON.stringify(times));
}
