/**
 * Where running routers announce themselves, so a rollout runner in another process can read their
 * per-version telemetry: one small file per router under `<state dir>/routers/`, removed when it stops.
 * Entries of processes that are gone are ignored (and cleaned up).
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VersionWindow } from '../domain/analysis.js';
import type { TelemetrySource } from '../pipeline/rollout-runner.js';
import { sumWindows } from './telemetry-files.js';
import { isProcessAlive } from '../process-alive.js';
import type { FleetTelemetryStore } from '../state/fleet-store.js';
import { FRESH_MS } from './fleet-telemetry.js';

export interface RouterEntry {
  pid: number;
  /** Base URL, for example http://127.0.0.1:7300 */
  url: string;
}

const dirOf = (stateDir: string): string => join(stateDir, 'routers');

/** Records this process as a router at `url`; returns the function that withdraws it. */
export async function announceRouter(stateDir: string, url: string): Promise<() => Promise<void>> {
  await mkdir(dirOf(stateDir), { recursive: true });
  const file = join(dirOf(stateDir), `${process.pid}.json`);
  await writeFile(file, JSON.stringify({ pid: process.pid, url } satisfies RouterEntry) + '\n');
  return () => rm(file, { force: true });
}

/** The routers announced under `stateDir` whose processes are alive. */
export async function listRouters(stateDir: string): Promise<RouterEntry[]> {
  let names: string[];
  try {
    names = await readdir(dirOf(stateDir));
  } catch {
    return [];
  }
  const out: RouterEntry[] = [];
  for (const n of names.filter((x) => x.endsWith('.json'))) {
    const file = join(dirOf(stateDir), n);
    try {
      const e = JSON.parse(await readFile(file, 'utf8')) as RouterEntry;
      if (isProcessAlive(e.pid)) out.push(e);
      else await rm(file, { force: true });
    } catch {
      // half-written or foreign file: skip
    }
  }
  return out;
}

/**
 * The running routers of the project, as a command sees them: with `fleet` (a database store), every router
 * that wrote its telemetry within FRESH_MS, on any host (one that has served nothing yet writes a presence row,
 * see postgres-fleet.ts); otherwise those announced under `stateDir`. Never throws: a fleet that cannot be read
 * lists none.
 */
export async function runningRouters(stateDir: string, fleet?: FleetTelemetryStore): Promise<RouterEntry[]> {
  if (!fleet) return listRouters(stateDir);
  try {
    return (await fleet.readTelemetry(FRESH_MS)).map((r) => ({ pid: r.router.pid, url: r.router.url }));
  } catch {
    return [];
  }
}

/** Telemetry summed over every router announced under `stateDir` (each asked over HTTP). */
export function routersTelemetry(stateDir: string, token?: string): TelemetrySource {
  return {
    async window(server, version, since) {
      const routers = await listRouters(stateDir);
      const windows = await Promise.all(
        routers.map(async (r) => {
          try {
            const u = `${r.url}/telemetry/window?server=${encodeURIComponent(server)}&version=${encodeURIComponent(version)}&since=${since}`;
            const res = await fetch(u, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(2000) });
            return res.ok ? ((await res.json()) as VersionWindow) : undefined;
          } catch {
            return undefined; // a router that does not answer contributes nothing this tick
          }
        }),
      );
      return sumWindows(windows);
    },
  };
}
