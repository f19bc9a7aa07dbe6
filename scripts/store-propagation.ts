/**
 * How long a registry write by one process takes to reach a LiveView in another: the file store (polled every
 * 500 ms) and the PostgreSQL store (LISTEN/NOTIFY, 5 s fallback poll), side by side. 50 traffic changes each,
 * one at a time; the time runs from the writer's commit returning to the watcher's `change` event (both clocks
 * are this machine's). Prints a table and writes bench-results/propagation-<time>.json. A script, never a test.
 * `npm run bench` measures the same (scripts/store-timing.ts) beside the cost of a write.
 *   node dist/scripts/store-propagation.js
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { quantile, timeStores } from './store-timing.js';

const WRITES = 50;

const results = await timeStores({ writes: 0, warmup: 0, propagationWrites: WRITES });
process.stdout.write(`write -> change in another process, ${WRITES} writes each\n`);
const rows = results.map((r) => ({ label: r.label, median: quantile(r.propagationMs, 0.5), p90: quantile(r.propagationMs, 0.9), max: Math.max(...r.propagationMs) }));
for (const r of rows) process.stdout.write(`${r.label.padEnd(26)} median ${r.median.toFixed(1).padStart(6)} ms  p90 ${r.p90.toFixed(1).padStart(6)} ms  max ${r.max.toFixed(1).padStart(6)} ms\n`);
await mkdir('bench-results', { recursive: true });
const file = `bench-results/propagation-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
await writeFile(file, JSON.stringify({ writes: WRITES, rows, samples: results.map((r) => ({ label: r.label, ms: r.propagationMs })) }, null, 2));
process.stdout.write(`wrote ${file}\n`);
