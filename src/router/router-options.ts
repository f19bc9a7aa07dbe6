/** The HTTP router's options and their defaults (`mcp-rollout serve` sets them from its flags). */
import type { PromotionPolicy } from '../domain/pin-decision.js';
import type { GuardOptions } from '../fronts/guard.js';
import { CONNECT_TIMEOUT_MS } from '../backends/backend-client.js';
import type { BackendOf } from '../sessions/http-session.js';
import type { RollbackPolicy } from '../sessions/session-migration.js';

export { ROLLBACK_POLICIES, type RollbackPolicy } from '../sessions/session-migration.js';

export interface HttpRouterOptions extends GuardOptions {
  host: string;
  port: number;
  /** Largest request body accepted, bytes (default 4 MiB). */
  maxBodyBytes: number;
  /** Open sessions allowed per server (default 1000). */
  maxSessionsPerServer: number;
  /** A session unused this long is closed, with its backend session (default 30 min). */
  idleTimeoutMs: number;
  /**
   * How long a version's pooled process stays warm after the version stops carrying traffic (a promotion
   * replaced it), so rolling back to it is instant (default 10 min).
   */
  rollbackWindowMs: number;
  /**
   * A request unanswered this long gets a JSON-RPC error naming the server and version, and counts as a
   * transport failure of the version (default 5 min; subscriptions/listen streams have none).
   */
  requestTimeoutMs: number;
  /** How long an HTTP backend may take to accept a new connection before its requests fail (default 5 s). */
  connectTimeoutMs: number;
  /**
   * A legacy session with a process of its own (a stdio version) that is idle this long, ms, is ended with its
   * process (default 5 min; idle: see process-budget.ts). Shorter than `idleTimeoutMs`: such a session holds a
   * whole server process (tens of MB), and clients that leave without DELETE never come back for it.
   */
  processIdleTimeoutMs: number;
  /**
   * Processes a stdio version may run for legacy sessions at once (default 32; the version's one pooled
   * process for stateless requests is not counted). A new session at the cap ends the least recently used idle
   * session's process first; when every one is busy, the new session gets 503.
   */
  maxProcessesPerVersion: number;
  /**
   * What an open session does when another version is promoted: `drain` (default) stays on its version until
   * it ends (an HTTP session costs the router nothing while idle, and moving would end it); `move` ends it, so
   * its client starts a new session on the new blue.
   */
  onPromote: PromotionPolicy;
  /**
   * What a session does where the pin decision says `move` (its version rolled back or removed, its backend
   * died or forgot the session, or a promotion under `onPromote: 'move'`): `migrate` (default) moves it live
   * to the version the weights choose, keeping its id (SDK v1 clients do not re-initialise after a 404);
   * `404` ends it, and its next request gets the specification's 404.
   */
  onRollback: RollbackPolicy;
  /**
   * Where an http version's requests go (default: its stored URL and headers). Serve resolves managed versions
   * to their running server here (managed/managed-fleet.ts); a version with no server answering throws.
   */
  backendOf?: BackendOf;
}

export const DEFAULT_ROUTER_OPTIONS: HttpRouterOptions = {
  host: '127.0.0.1',
  port: 7300,
  hosts: [],
  origins: [],
  maxBodyBytes: 4 * 1024 * 1024,
  maxSessionsPerServer: 1000,
  idleTimeoutMs: 30 * 60_000,
  rollbackWindowMs: 10 * 60_000,
  requestTimeoutMs: 5 * 60_000,
  connectTimeoutMs: CONNECT_TIMEOUT_MS,
  processIdleTimeoutMs: 5 * 60_000,
  maxProcessesPerVersion: 32,
  onPromote: 'drain',
  onRollback: 'migrate',
};
