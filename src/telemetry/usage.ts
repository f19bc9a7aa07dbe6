/**
 * Usage per version as `mcp-status` shows it: live sessions, backend processes, requests, error rate, p50/p99 latency, summed
 * over every stdio proxy's telemetry file and every running HTTP router of the project.
 */
import { listRouters } from './router-directory.js';
import type { FleetTelemetryStore } from '../state/fleet-store.js';
import { TELEMETRY_RETENTION_MS } from '../state/postgres-fleet.js';
import { FRESH_MS } from './fleet-telemetry.js';
import { readTelemetryFiles } from './telemetry-files.js';
import { addCounters, percentile, zero, type Counters, type ManagedFigures, type SeriesTotals } from './version-metrics.js';
import { isProcessAlive } from '../process-alive.js';

export interface VersionUsage {
  /** Sessions open now. */
  sessions: number;
  /** Backend processes running now (stdio versions: one per legacy session, plus a pooled one). */
  processes?: number;
  requests: number;
  errors: number;
  /** errors / requests, 0-1; undefined without requests. */
  errorRate?: number;
  /** Latency bucket bounds in ms; undefined without requests. */
  p50Ms?: number;
  p99Ms?: number;
  /** A managed version's process, as a running router reports it. */
  managed?: ManagedFigures;
}


/**
 * Usage keyed by `server\u0000version`. A reporter that cannot be read is left out, never fatal. With `fleet`
 * (a database store), every router of the fleet as written there, on whichever host: a router whose last batch
 * is fresh is live (its open sessions count); one that stopped writing keeps its counters until they expire.
 */
export async function usageByVersion(stateDir: string, token?: string, fleet?: FleetTelemetryStore): Promise<Map<string, VersionUsage>> {
  const series: { live: boolean; s: SeriesTotals }[] = [];
  if (fleet) {
    try {
      for (const r of await fleet.readTelemetry(TELEMETRY_RETENTION_MS)) for (const s of r.series) series.push({ live: r.ageMs <= FRESH_MS, s });
    } catch {
      // status still shows the registry when telemetry cannot be read
    }
  }
  for (const f of await readTelemetryFiles(stateDir)) {
    const live = isProcessAlive(f.pid);
    for (const s of f.series) series.push({ live, s });
  }
  for (const r of await listRouters(stateDir)) {
    try {
      const res = await fetch(`${r.url}/telemetry/totals`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(2000) });
      if (res.ok) for (const s of (await res.json()) as SeriesTotals[]) series.push({ live: true, s });
    } catch {
      // a router that does not answer is left out
    }
  }
  const sums = new Map<string, { active: number; processes: number; c: Counters; managed?: ManagedFigures }>();
  for (const { live, s } of series) {
    const k = `${s.server}\u0000${s.version}`;
    const e = sums.get(k) ?? { active: 0, processes: 0, c: zero() };
    addCounters(e.c, s.counters);
    if (live) {
      e.active += Math.max(0, s.active);
      e.processes += Math.max(0, s.processes ?? 0);
      // One router runs a managed version's process; with several, the one whose process is ready is shown.
      if (s.managed && (e.managed === undefined || s.managed.state === 'ready')) e.managed = s.managed;
    }
    sums.set(k, e);
  }
  const out = new Map<string, VersionUsage>();
  for (const [k, { active, processes, c, managed }] of sums) {
    const p50 = percentile(c.latency, 0.5);
    const p99 = percentile(c.latency, 0.99);
    out.set(k, {
      sessions: active,
      processes,
      requests: c.requests,
      errors: c.errors,
      ...(c.requests > 0 ? { errorRate: c.errors / c.requests } : {}),
      ...(p50 === undefined ? {} : { p50Ms: p50 }),
      ...(p99 === undefined ? {} : { p99Ms: p99 }),
      ...(managed ? { managed } : {}),
    });
  }
  return out;
}
