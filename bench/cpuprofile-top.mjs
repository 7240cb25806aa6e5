#!/usr/bin/env node
// Where a process's CPU time went, from a V8 CPU profile (`node --cpu-prof`, e.g. the gateway's
// through BENCH_GATEWAY_NODE_OPTIONS): self time by origin — patchbay's own source, each npm
// package, node's internals (`node:`), the garbage collector, idle — and the functions with the
// most self time (a native one named with its nearest caller outside node). Code of patchbay's
// bundle (dist/cli/patchbay.cjs, which holds the SDK and the other dependencies too) is traced back
// to its source file through the bundle's source map (patchbay.cjs.map), so that patchbay's code
// and each package are told apart.
//
// Usage: node bench/cpuprofile-top.mjs <file.cpuprofile> [top N, default 25]

import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

const [file, topText = '25'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/cpuprofile-top.mjs <file.cpuprofile> [top N]');
  process.exit(2);
}
const top = Number(topText);
const profile = JSON.parse(readFileSync(file, 'utf8'));

// Self time of each node: the time deltas of the samples taken in it.
const selfUs = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}

const maps = new Map();
function sourceMapOf(url) {
  if (!maps.has(url)) {
    let map = null;
    try {
      const path = url.startsWith('file:') ? fileURLToPath(url) : url;
      if (path.startsWith('/') && existsSync(`${path}.map`))
        map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')));
    } catch {
      map = null;
    }
    maps.set(url, map);
  }
  return maps.get(url);
}

/** Where a frame's code comes from: { origin, where } (origin is what the summary groups by). */
function locate({ url, lineNumber, columnNumber, functionName }) {
  if (!url) {
    const special = functionName.startsWith('(') ? functionName : '(native / V8 builtins)';
    return { origin: special, where: '' };
  }
  if (url.startsWith('node:')) return { origin: 'node internals', where: url };
  let source = url;
  let line = lineNumber;
  const map = sourceMapOf(url);
  if (map) {
    const entry = map.findEntry(lineNumber, columnNumber);
    if (entry?.originalSource) {
      source = entry.originalSource;
      line = entry.originalLine;
    }
  }
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  const origin = packageMatch ? packageMatch[1] : /\/src\//.test(source) ? 'patchbay (src/)' : 'other';
  const short = source.replace(/^.*node_modules\//, '').replace(/^.*?\/src\//, 'src/');
  return { origin, where: `${short}:${line + 1}` };
}

// A native function (no URL: a binding such as writev, mkdir) is named with its nearest caller
// outside node's own code, so that e.g. the file system calls of one module are told apart.
const parentOf = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
function callerOf(node) {
  for (let up = parentOf.get(node.id); up; up = parentOf.get(up.id))
    if (up.callFrame.url && !up.callFrame.url.startsWith('node:')) return locate(up.callFrame).where;
  return '';
}

let total = 0;
const byOrigin = new Map();
const byFunction = new Map();
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  if (us === 0) continue;
  total += us;
  const { origin, where } = locate(node.callFrame);
  byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + us);
  const native = !node.callFrame.url && !node.callFrame.functionName.startsWith('(');
  const key = `${node.callFrame.functionName || '(anonymous)'}  ${native ? `← ${callerOf(node)}` : where}`;
  const entry = byFunction.get(key) ?? { us: 0, origin };
  entry.us += us;
  byFunction.set(key, entry);
}
const busy = total - (byOrigin.get('(idle)') ?? 0);
const pct = (us) => `${((us * 100) / busy).toFixed(1)}%`;
const msText = (us) => `${(us / 1000).toFixed(0)} ms`;

console.log(`${file}: ${msText(total)} sampled, ${msText(busy)} not idle (percentages are of that)\n`);
console.log('| origin | self time | share |');
console.log('| --- | --: | --: |');
for (const [origin, us] of [...byOrigin].sort((a, b) => b[1] - a[1]))
  if (origin !== '(idle)') console.log(`| ${origin} | ${msText(us)} | ${pct(us)} |`);
console.log(`\n| function (self time, top ${top}) | origin | self time | share |`);
console.log('| --- | --- | --: | --: |');
for (const [key, { us, origin }] of [...byFunction].sort((a, b) => b[1].us - a[1].us).slice(0, top))
  if (origin !== '(idle)') console.log(`| \`${key}\` | ${origin} | ${msText(us)} | ${pct(us)} |`);
