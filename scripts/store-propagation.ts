/**
 * How long a registry write by one process takes to reach a LiveView in another: the file store (polled every
 * 500 ms) and the PostgreSQL store (LISTEN/NOTIFY, 5 s fallback poll), side by side. 50 traffic changes each,
 * one at a time; the time runs from the writer's commit returning to the watcher's `change` event (both clocks
 * are this machine's). Prints a table and writes bench-results/propagation-<time>.json. A script, never a test.
 *   node dist/scripts/store-propagation.js
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Registry } from '../src/registry/registry.js';
import { LiveView } from '../src/registry/live-view.js';
import { openStore } from '../src/state/open-store.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { tempProject } from '../test/helpers/temp-project.js';

const WRITES = 50;
const now = (): number => performance.timeOrigin + performance.now();

/** Watcher mode: a LiveView on the store the environment names; one line per change, with the time. */
async function watch(): Promise<void> {
  const view = new LiveView(openStore({ cwd: process.cwd(), env: process.env }));
  view.on('change', () => process.stdout.write(`change ${now()}\n`));
  await view.start();
  process.stdout.write('ready\n');
  process.stdin.resume().once('end', () => process.exit(0));
}

async function measure(label: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ label: string; ms: number[] }> {
  const registry = new Registry(openStore({ cwd, env }));
  await registry.deploy('weather', { version: '1.0.0', transport: { type: 'stdio', command: 'node', args: [], env: {} } });
  await registry.deploy('weather', { version: '1.1.0', transport: { type: 'stdio', command: 'node', args: [], env: {} } });
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(import.meta.url), 'watch'], { cwd, env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done === true) throw new Error(`${label}: the watcher exited`);
    return r.value as string;
  };
  while ((await next()) !== 'ready');
  const ms: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    await registry.setTraffic('weather', '1.1.0', (i % 2) + 1);
    const committed = now();
    const line = await next();
    ms.push(Number(line.split(' ')[1]) - committed);
  }
  child.stdin!.end();
  await registry.store.close?.();
  return { label, ms };
}

function summary(ms: number[]): { median: number; p90: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p90: at(0.9), max: s[s.length - 1]! };
}

async function main(): Promise<void> {
  const p = await tempProject();
  const cluster = await startPostgres();
  try {
    const url = await cluster.createDatabase('propagation');
    const results = [await measure('file store (500 ms poll)', p.dir, p.env), await measure('PostgreSQL (NOTIFY)', p.dir, { ...p.env, MCP_ROLLOUT_STORE: url })];
    process.stdout.write(`write -> change in another process, ${WRITES} writes each\n`);
    const rows = results.map((r) => ({ label: r.label, ...summary(r.ms) }));
    for (const r of rows) process.stdout.write(`${r.label.padEnd(26)} median ${r.median.toFixed(1).padStart(6)} ms  p90 ${r.p90.toFixed(1).padStart(6)} ms  max ${r.max.toFixed(1).padStart(6)} ms\n`);
    await mkdir('bench-results', { recursive: true });
    const file = `bench-results/propagation-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    await writeFile(file, JSON.stringify({ writes: WRITES, rows, samples: results }, null, 2));
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    await cluster.stop();
    await p.cleanup();
  }
}

if (process.argv[2] === 'watch') await watch();
else await main();
