/**
 * One driver per rollout across hosts: with a store that keeps leases (the database), a driver holds a lease
 * on its rollout that expires unless renewed, renews it every third of its length from a timer (so a slow
 * tick or a long --interval never lets it lapse), and confirms it right before committing each tick. A
 * driver that dies stops renewing; once the lease has run out another process may take it, and the registry
 * claim then makes the new driver the recorded one, so the old one's next commit is refused. With the file
 * store (one host), a driver is alive while its process is (rollout-runner.ts `driverAlive`).
 */
import { sameDriver } from '../domain/registry-ops.js';
import type { RolloutDriver } from '../domain/types.js';
import type { Registry } from '../registry/registry.js';
import { rolloutLeasesOf, type RolloutLeaseStore } from '../state/fleet-store.js';
import { isProcessAlive, isThisHost } from '../process-alive.js';

/** Default lease length, ms: a dead driver's rollout is taken over at most this long after its last renewal. */
export const LEASE_MS = 10_000;

export interface HeldLease {
  /**
   * Renews the lease now; false when it was lost (expired, or another process holds it): the caller must not
   * act for the rollout. Throws AppError `io` when the store cannot be reached (nothing may be committed then).
   */
  confirm(): Promise<boolean>;
  /** Stops renewing and gives the lease up, so another process may take the rollout at once. */
  release(): Promise<void>;
}

/** A lease that is always held: for stores without leases, where the registry's driver record decides alone. */
const NO_LEASE: HeldLease = { confirm: () => Promise.resolve(true), release: () => Promise.resolve() };

/**
 * Takes the lease on `server`'s rollout for `self` when the registry's store keeps leases. Returns the held
 * lease (renewed every `ttlMs / 3` until released), or undefined when another live process holds it.
 */
export async function takeLease(registry: Registry, server: string, self: RolloutDriver, ttlMs = LEASE_MS): Promise<HeldLease | undefined> {
  const leases = rolloutLeasesOf(registry.store);
  if (!leases) return NO_LEASE;
  if (!(await leases.acquireLease(server, self, ttlMs))) return undefined;
  return holding(leases, server, self, ttlMs);
}

function holding(leases: RolloutLeaseStore, server: string, self: RolloutDriver, ttlMs: number): HeldLease {
  let lost = false;
  let released = false;
  const renew = async (): Promise<boolean> => {
    if (lost || released) return false;
    if (!(await leases.renewLease(server, self, ttlMs))) lost = true;
    return !lost;
  };
  // A renewal that fails on a database error is retried at the next beat; the lease survives ttlMs of them.
  const timer = setInterval(() => void renew().catch(() => undefined), Math.max(1, Math.floor(ttlMs / 3)));
  timer.unref();
  return {
    confirm: renew,
    async release() {
      clearInterval(timer);
      if (released) return;
      released = true;
      if (!lost) await leases.releaseLease(server, self).catch(() => undefined);
    },
  };
}

/**
 * Whether `driver` may still be driving `server`'s rollout; false for none. With leases (a store shared
 * between hosts), while it holds an unexpired lease on it, whatever its host; otherwise by its pid on this
 * host, and a driver on another host is taken to be alive (the file store's lock assumes one host anyway).
 * `untilMs`, when given, hears how long the live driver's lease still runs (to look again then).
 */
export async function driverLive(registry: Registry, server: string, driver: RolloutDriver | undefined, untilMs?: (ms: number) => void): Promise<boolean> {
  const leases = rolloutLeasesOf(registry.store);
  if (!leases) return driverAlive(driver);
  if (!driver) return false;
  const l = await leases.lease(server);
  const live = l !== undefined && l.remainingMs > 0 && sameDriver(l.holder, driver);
  if (live) untilMs?.(l.remainingMs);
  return live;
}

/**
 * Whether a rollout's recorded driver on a store without leases may still be driving it; false for none.
 * A driver on this machine (its host name, or the MCP_ROLLOUT_HOST name a `serve` records) is alive while its
 * pid is. A driver on another host is taken to be alive: its pid cannot be checked from here. A registry
 * shared between hosts is the database store, which keeps leases (see `driverLive`).
 */
export function driverAlive(d: RolloutDriver | undefined): boolean {
  if (!d) return false;
  return isThisHost(d.host) ? isProcessAlive(d.pid) : true;
}
