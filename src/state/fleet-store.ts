/**
 * What a store shared by routers offers beyond the registry: each router's telemetry, written in batches so
 * the analysis and `mcp-status` see the whole fleet's traffic (the database store; on files routers report
 * through the project directory), and one lease per rollout, so exactly one process drives it and a driver
 * that died is replaced once its lease runs out (the database store and the file store).
 */
import type { RolloutDriver } from '../domain/types.js';
import type { SeriesTotals } from '../telemetry/version-metrics.js';

/** Who a router is in the fleet's telemetry. */
export interface RouterIdentity {
  /** Random per router process (a restarted router is another one: its counters start again at zero). */
  id: string;
  host: string;
  pid: number;
  /** Base URL it listens on, for people reading status. */
  url: string;
  /**
   * When it started counting (epoch ms, by the store's clock, `Store.now`): compared with a rollout step's window
   * start, which another process on another host may have taken.
   */
  startedAt: number;
}

/** One router's latest batch as stored. */
export interface RouterReport {
  router: RouterIdentity;
  /** Cumulative, per version, as the router's VersionMetrics.totals() gave them. */
  series: SeriesTotals[];
  /** ms since the router last wrote, by the store's clock (so hosts' clocks need not agree). */
  ageMs: number;
}

export interface FleetTelemetryStore {
  /**
   * Replaces `router`'s stored series with `series` (one upsert per version, in one statement) and stamps them
   * with the store's time. Throws AppError `io` when the store cannot be reached.
   */
  writeTelemetry(router: RouterIdentity, series: readonly SeriesTotals[]): Promise<void>;
  /** Every router's latest report written within `maxAgeMs` (older rows are deleted on the way). */
  readTelemetry(maxAgeMs: number): Promise<RouterReport[]>;
}

/** A rollout's lease as stored: who holds it, and for how much longer. */
export interface LeaseState {
  holder: RolloutDriver;
  /** ms until it expires by the store's clock; 0 or less once expired. */
  remainingMs: number;
}

export interface RolloutLeaseStore {
  /**
   * Takes or renews the lease on `server`'s rollout for `ttlMs`: succeeds when nobody holds it, its holder's
   * lease has expired, or `holder` already holds it. Returns whether `holder` holds it now. Atomic: of two
   * callers racing for an expired lease, one gets it.
   */
  acquireLease(server: string, holder: RolloutDriver, ttlMs: number): Promise<boolean>;
  /** Extends `holder`'s unexpired lease by `ttlMs` from now; false when it expired or another holds it. */
  renewLease(server: string, holder: RolloutDriver, ttlMs: number): Promise<boolean>;
  /** Gives the lease up now, if `holder` has it (another may take it at once). */
  releaseLease(server: string, holder: RolloutDriver): Promise<void>;
  /** The lease on `server`'s rollout, expired or not; undefined when there is none. */
  lease(server: string): Promise<LeaseState | undefined>;
}

/** The store's fleet telemetry, or undefined for a store without it (the file store). */
export function fleetTelemetryOf(store: object): FleetTelemetryStore | undefined {
  const s = store as Partial<FleetTelemetryStore>;
  return s.writeTelemetry && s.readTelemetry ? (s as FleetTelemetryStore) : undefined;
}

/** The store's rollout leases, or undefined for a store without them (the memory store). */
export function rolloutLeasesOf(store: object): RolloutLeaseStore | undefined {
  const s = store as Partial<RolloutLeaseStore>;
  return s.acquireLease && s.renewLease && s.releaseLease && s.lease ? (s as RolloutLeaseStore) : undefined;
}
