/**
 * One driver per rollout: a driver holds a lease on its rollout that expires unless renewed, renews it every
 * third of its length from a timer (so a slow tick or a long --interval never lets it lapse), and confirms it
 * right before committing each tick. A driver that dies stops renewing; once the lease has run out another
 * process may take it, and the registry claim then makes the new driver the recorded one, so the old one's
 * next commit is refused. Both stores keep leases: the database in a table (its clock), the file store in
 * `leases.json` beside the registry (lease-file.ts), so a driver on another host sharing the files (a network
 * disk, a registry copied from another machine) is judged by its lease too, not taken to be alive for ever.
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

/** A lease that is always held: for a store without leases (in memory), where the registry's driver record decides alone. */
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
 * Whether `driver` may still be driving `server`'s rollout; false for none. On this host (its host name, or
 * the MCP_ROLLOUT_HOST name a `serve` records) a driver whose pid is dead is not, at once, whatever its lease
 * says. Otherwise, on a store with leases, while it holds an unexpired lease on the rollout, whatever its host;
 * a driver with no lease recorded at all (one that gave it up while stopping, or a build from before leases)
 * is live while its pid is on this host, and not on another, where nothing vouches for it. On a store without
 * leases (the memory store), see `driverAlive`. `untilMs`, when given, hears how long the live driver's lease
 * still runs (to look again then).
 */
export async function driverLive(registry: Registry, server: string, driver: RolloutDriver | undefined, untilMs?: (ms: number) => void): Promise<boolean> {
  if (!driver) return false;
  const local = isThisHost(driver.host);
  if (local && !isProcessAlive(driver.pid)) return false;
  const leases = rolloutLeasesOf(registry.store);
  if (!leases) return driverAlive(driver);
  const l = await leases.lease(server);
  if (l === undefined) return local;
  const live = l.remainingMs > 0 && sameDriver(l.holder, driver);
  if (live) untilMs?.(l.remainingMs);
  return live;
}

/**
 * Whether a rollout's recorded driver on a store without leases may still be driving it; false for none.
 * A driver on this machine is alive while its pid is. A driver on another host is taken to be alive: its pid
 * cannot be checked from here, and such a store (in memory) is never shared between hosts.
 */
export function driverAlive(d: RolloutDriver | undefined): boolean {
  if (!d) return false;
  return isThisHost(d.host) ? isProcessAlive(d.pid) : true;
}
