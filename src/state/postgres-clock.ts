/**
 * The database's clock, read without a query: sampled on connecting (and again every RESYNC_MS) and carried
 * forward with this process's monotonic clock, never its wall clock. Every process of a fleet reads the same
 * clock this way, to within half the best round trip, whatever its host's clock says (containers without NTP
 * drift apart by seconds); so an instant one process writes (a rollout step's window start, a router's start)
 * compares with an instant another process takes.
 */
import type postgres from 'postgres';

/** One reading: the database's time `dbMs` (epoch ms) at this process's `monoMs` (performance.now()). */
export interface ClockBase {
  dbMs: number;
  monoMs: number;
  /** The round trip it was read over, ms: the reading is exact to half of it. */
  rttMs: number;
}

/** How long one reading is carried forward before the next is taken (monotonic clocks drift by ppm). */
export const RESYNC_MS = 30_000;

/** Reads `clock_timestamp()` `samples` times (default 3); keeps the reading of the shortest round trip. */
export async function sampleDatabaseClock(sql: postgres.Sql, samples = 3): Promise<ClockBase> {
  let best: ClockBase | undefined;
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    const rows = await sql<{ ms: number }[]>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`;
    const t1 = performance.now();
    const s = { dbMs: Number(rows[0]!.ms), monoMs: (t0 + t1) / 2, rttMs: t1 - t0 };
    if (!best || s.rttMs < best.rttMs) best = s;
  }
  return best!;
}

/** The database's time now by `base`: whole epoch ms, as Date.now() gives (the registry's format wants integers). */
export const clockReading = (base: ClockBase, monoMs = performance.now()): number => Math.floor(base.dbMs + (monoMs - base.monoMs));
