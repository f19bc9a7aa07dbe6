/**
 * What the state store costs, file and PostgreSQL side by side, for `npm run bench` (section "store") and
 * scripts/store-propagation.ts: the time of one registry write (sequential traffic changes through Registry, as
 * `mcp-traffic` makes them) and the time a write takes to reach a LiveView in another process (the file store's
 * 500 ms poll, the database's LISTEN/NOTIFY). Both stores run on this machine: a throwaway PostgreSQL cluster
 * (test/helpers/postgres.ts, fsync off) and a temporary project directory.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Registry } from '../src/registry/registry.js';
import { openStore } from '../src/state/open-store.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { tempProject } from '../test/helpers/temp-project.js';

const WATCHER = fileURLToPath(new URL('./store-watcher.js', import.meta.url));
const now = (): number => performance.timeOrigin + performance.now();

export interface StoreTimings {
  label: string;
  /** Duration of each measured write (ms), in order. */
  writeMs: number[];
  /** Commit returned -> change event in the other process (ms), one per propagation write. */
  propagationMs: number[];
}

export interface StoreTimingOptions {
  /** Sequential writes timed (default 200); 0 skips the write measurement. */
  writes?: number;
  /** Unmeasured writes made first, so that the connection, the schema check and the JIT settle (default 20). */
  warmup?: number;
  /** Writes whose propagation is timed, one at a time (default 50); 0 skips it. */
  propagationWrites?: number;
}

/** The q-quantile of `xs` (nearest rank, lower); NaN when empty. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Alternates weather 1.1.0 between 1 and 2 % so that every write is a change (an unchanged one writes nothing). */
const write = (registry: Registry, i: number): Promise<unknown> => registry.setTraffic('weather', '1.1.0', (i % 2) + 1);

async function timeWrites(registry: Registry, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await write(registry, i);
    ms.push(performance.now() - t0);
  }
  return ms;
}

/** Starts the watcher in `cwd`/`env` and times `n` writes, each from its commit to the watcher's change line. */
async function timePropagation(label: string, registry: Registry, cwd: string, env: NodeJS.ProcessEnv, n: number): Promise<number[]> {
  const child = spawn(process.execPath, [WATCHER], { cwd, env, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done === true) throw new Error(`${label}: the watcher process ${child.pid} exited before its next line`);
    return r.value as string;
  };
  try {
    while ((await next()) !== 'ready');
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      await write(registry, i);
      const committed = now();
      const line = await next();
      ms.push(Number(line.split(' ')[1]) - committed);
    }
    return ms;
  } finally {
    child.stdin.end();
    await exited;
  }
}

async function measure(label: string, cwd: string, env: NodeJS.ProcessEnv, o: Required<StoreTimingOptions>): Promise<StoreTimings> {
  const registry = new Registry(openStore({ cwd, env }));
  try {
    await registry.deploy('weather', { version: '1.0.0', transport: { type: 'stdio', command: 'node', args: [], env: {} } });
    await registry.deploy('weather', { version: '1.1.0', transport: { type: 'stdio', command: 'node', args: [], env: {} } });
    await timeWrites(registry, o.warmup);
    const writeMs = await timeWrites(registry, o.writes);
    const propagationMs = o.propagationWrites > 0 ? await timePropagation(label, registry, cwd, env, o.propagationWrites) : [];
    return { label, writeMs, propagationMs };
  } finally {
    await registry.store.close?.();
  }
}

/**
 * Times the file store and a PostgreSQL store (a throwaway cluster, started and stopped here), one after the
 * other, in fresh state each. Throws when PostgreSQL cannot start (see test/helpers/postgres.ts) or a watcher
 * process dies.
 */
export async function timeStores(options: StoreTimingOptions = {}): Promise<StoreTimings[]> {
  const o = { writes: 200, warmup: 20, propagationWrites: 50, ...options };
  const fileProject = await tempProject('mcp-rollout-bench-file-');
  const pgProject = await tempProject('mcp-rollout-bench-pg-');
  const cluster = await startPostgres().catch(async (e: unknown) => {
    await Promise.all([fileProject.cleanup(), pgProject.cleanup()]);
    throw e;
  });
  try {
    const url = await cluster.createDatabase('bench_store');
    return [
      await measure('file store (500 ms poll)', fileProject.dir, fileProject.env, o),
      await measure('PostgreSQL (NOTIFY)', pgProject.dir, { ...pgProject.env, MCP_ROLLOUT_STORE: url }, o),
    ];
  } finally {
    await cluster.stop();
    await Promise.all([fileProject.cleanup(), pgProject.cleanup()]);
  }
}
