/**
 * Telemetry of a router fleet through a shared store (the database): each router writes its cumulative
 * per-version counters in one batch about once a second, from a timer (never on a request's path), and the
 * rollout analysis sums every router's window, so a canary is judged on the traffic of every router behind
 * the load balancer, not on the slice one router saw.
 */
import type { VersionWindow } from '../domain/analysis.js';
import type { TelemetrySource } from '../pipeline/rollout-runner.js';
import type { FleetTelemetryStore, RouterIdentity, RouterReport } from '../state/fleet-store.js';
import { sumWindows } from './telemetry-files.js';
import { windowBetween, zero, type Counters, type VersionMetrics } from './version-metrics.js';

/** A router whose last batch is older than this is taken to be gone (it writes every second). */
export const FRESH_MS = 5_000;

/**
 * Writes `metrics` under `router` every `everyMs` (default 1000); the returned function writes a last time
 * and stops. A failed write (database down) is reported to `onError` and retried at the next beat: serving
 * clients matters more than reporting on them.
 */
export function startFleetTelemetryWriter(
  store: FleetTelemetryStore,
  router: RouterIdentity,
  metrics: VersionMetrics,
  opts: { everyMs?: number; onError?: (e: Error) => void } = {},
): () => Promise<void> {
  let writing: Promise<void> = Promise.resolve();
  let busy = false;
  const write = (): Promise<void> => {
    // A slow database must not queue beats up: one batch in flight at a time, the next beat carries the news.
    if (busy) return writing;
    busy = true;
    writing = store
      .writeTelemetry(router, metrics.totals())
      .catch((e: unknown) => opts.onError?.(e as Error))
      .finally(() => (busy = false));
    return writing;
  };
  const timer = setInterval(() => void write(), opts.everyMs ?? 1000);
  timer.unref();
  void write();
  return async () => {
    clearInterval(timer);
    await writing;
    await write();
  };
}

/**
 * A TelemetrySource over every router's batches. Rows hold cumulative counters, so the source remembers
 * each router's readings and answers a router's window from its reading at or before `since`; a router that
 * started after `since` counts from zero, and one first seen later (this runner took the rollout over)
 * counts from its first reading. Routers that stopped writing before `since` are left out; one that died
 * during the window keeps what it reported. `since`, `now`, each router's start and each reading's time are
 * all the store's clock (`Store.now`, the rows' ages), never a host's: a router whose host clock is off by
 * seconds is still counted from the right reading.
 */
export function fleetTelemetry(store: FleetTelemetryStore): TelemetrySource {
  const readings = new Map<string, { at: number; c: Counters }[]>();
  return {
    async window(server, version, since, now): Promise<VersionWindow> {
      const reports = await store.readTelemetry(Math.max(FRESH_MS, now - since + FRESH_MS));
      const windows = reports.map((r) => {
        const c = countersOf(r, server, version);
        const k = `${r.router.id}\u0000${server}\u0000${version}`;
        const h = readings.get(k) ?? [];
        // Stamped when the router wrote it, by the store's clock (the reading may be a second old).
        h.push({ at: now - r.ageMs, c });
        while (h.length > 1 && h[0]!.at < now - 3_600_000) h.shift();
        readings.set(k, h);
        const base = r.router.startedAt >= since ? zero() : ([...h].reverse().find((x) => x.at <= since) ?? h[0]!).c;
        return windowBetween(base, c);
      });
      return sumWindows(windows);
    },
  };
}

function countersOf(r: RouterReport, server: string, version: string): Counters {
  return r.series.find((s) => s.server === server && s.version === version)?.counters ?? zero();
}
