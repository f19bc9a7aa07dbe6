/**
 * One decision for a session pinned to a version, shared by every front (the stdio proxy, the HTTP router):
 * given what the registry says now, the pin, the time and what the front saw of its backend, the session
 * stays, moves to another version, or ends. Both fronts carry a `move` out live (the proxy and the router:
 * replayed initialize, list_changed); `serve --on-rollback 404` makes the router end such a session instead, as
 * the specification's answer, and its client starts a new one. Pure: the clock is passed in.
 */
import { SessionReason } from './reasons.js';
import type { ServerState, VersionRecord } from './types.js';

/**
 * What a session does when another version is promoted and its own becomes inactive: `drain` stays on it until
 * the session ends; `move` goes to the new blue. The version is healthy (it was blue a moment ago), so draining
 * costs nothing but the old backend's life; moving frees it at once at the price of a session switch.
 */
export type PromotionPolicy = 'drain' | 'move';
export const PROMOTION_POLICIES: readonly PromotionPolicy[] = ['drain', 'move'];

/** The session's pin. */
export interface Pin {
  /** The server's name (the state is undefined once the server is removed). */
  server: string;
  version: string;
  /** Epoch ms when the session was pinned to `version`: a rollback at or after it concerns the session. */
  pinnedAt: number;
  /** Epoch ms of the session's last request, for the idle timeout (omit: no idle timeout applies). */
  lastUsed?: number;
}

/** What the front saw of the session's backend since its last decision. */
export interface Observed {
  /** The backend's process or connection died unasked, or could not start: the front's text saying so. */
  backendDied?: string;
  /** The backend no longer knows the session (it answered 404: it restarted). */
  backendSessionGone?: boolean;
}

export interface PinPolicy {
  onPromote: PromotionPolicy;
  /** A session unused this long ends, ms (omit: never). */
  idleTimeoutMs?: number;
}

export type PinDecision =
  | { action: 'stay' }
  /** To the version the weights now choose (the caller's weighted choice picks it). */
  | { action: 'move'; reason: SessionReason; why: string }
  | { action: 'end'; reason: SessionReason; why: string };

const STAY: PinDecision = { action: 'stay' };

/** Nothing seen of the backend. */
export const NOTHING_SEEN: Readonly<Observed> = Object.freeze({});

/**
 * Decides what a pinned session does now. `server` is the server's state, undefined once the server is
 * removed. In order: the registry's truth (server removed, version removed, version rolled back since the
 * pin), then what the front saw (backend died, backend session gone), then the idle timeout, then the
 * promotion policy. Never throws.
 */
export function decidePin(server: ServerState | undefined, pin: Pin, now: number, policy: PinPolicy, observed: Observed = NOTHING_SEEN): PinDecision {
  const name = pin.server;
  if (server === undefined) return { action: 'end', reason: SessionReason.ServerRemoved, why: `server "${name}" was removed` };
  // Decided on every request: the common case (the session stays) allocates nothing.
  let v: VersionRecord | undefined;
  for (const x of server.versions) {
    if (x.version !== pin.version) continue;
    v = x;
    break;
  }
  if (!v) return { action: 'move', reason: SessionReason.VersionRemoved, why: `${label(pin)} was removed` };
  if (rolledBackUnder(server, v, pin.pinnedAt)) return { action: 'move', reason: SessionReason.VersionRolledBack, why: `${label(pin)} was rolled back` };
  if (observed.backendDied !== undefined) return { action: 'move', reason: SessionReason.BackendDied, why: observed.backendDied };
  if (observed.backendSessionGone) return { action: 'move', reason: SessionReason.BackendSessionGone, why: `server "${name}" version ${pin.version} no longer knows the session (its backend restarted)` };
  if (policy.idleTimeoutMs !== undefined && pin.lastUsed !== undefined && now - pin.lastUsed > policy.idleTimeoutMs) {
    return { action: 'end', reason: SessionReason.IdleTimeout, why: `the session was unused for ${policy.idleTimeoutMs / 1000} s (--idle-timeout)` };
  }
  if (v.status === 'inactive' && policy.onPromote === 'move') {
    return { action: 'move', reason: SessionReason.PromotedAway, why: `${label(pin)} is inactive: another version was promoted (--on-promote move)` };
  }
  return STAY;
}

const label = (pin: Pin): string => `version ${pin.version} of "${pin.server}"`;

/**
 * Whether `v`'s rollback concerns a session pinned to it at `pinnedAt`: one pinned before the rollback (or at
 * its ms); and, while the version has stayed inactive since, one pinned after it too. Such a pin was made on a
 * view that had not seen the rollback yet (a change takes a moment to reach every router and proxy), or by a
 * clock a little ahead of the one that stamped the rollback; left alone, its session would stay on the
 * rolled-back version for good. A version given traffic again after its rollback keeps the sessions pinned since.
 */
function rolledBackUnder(server: ServerState, v: VersionRecord, pinnedAt: number): boolean {
  const t = lifecycle(server, v.version);
  if (t?.rolledBackAt === undefined) return false;
  if (t.rolledBackAt >= pinnedAt) return true;
  return v.status === 'inactive' && !(t.activatedAt !== undefined && t.activatedAt > t.rolledBackAt);
}

/** When a version was last rolled back, and last made active (given a status other than inactive, or traffic). */
interface Lifecycle {
  rolledBackAt?: number;
  activatedAt?: number;
}

/**
 * Each server state's versions' lifecycle times, computed once per state: fronts decide on every request, and a
 * long history should not be read each time. States are replaced, never changed, on a registry change.
 */
const lifecycles = new WeakMap<ServerState, Map<string, Lifecycle>>();

function lifecycle(server: ServerState, version: string): Lifecycle | undefined {
  let at = lifecycles.get(server);
  if (!at) {
    at = new Map();
    const later = (a: number | undefined, b: number): number => Math.max(a ?? -Infinity, b);
    for (const e of server.history) {
      const activated = e.kind === 'registered' ? e.status !== 'inactive' || e.trafficPercentage > 0 : e.kind === 'status' ? e.to !== 'inactive' : e.kind === 'traffic' && e.to > 0;
      if (e.kind !== 'rollback' && !activated) continue;
      const key = e.kind === 'rollback' ? e.fromVersion : e.version;
      const t = at.get(key) ?? {};
      if (e.kind === 'rollback') t.rolledBackAt = later(t.rolledBackAt, e.timestamp);
      else t.activatedAt = later(t.activatedAt, e.timestamp);
      at.set(key, t);
    }
    lifecycles.set(server, at);
  }
  return at.get(version);
}
