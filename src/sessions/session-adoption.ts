/**
 * Taking on a session id this router does not hold but the key ring opens: one sealed by this router before a
 * restart, or by another router of the store. A session on an HTTP backend carries on here (its backend
 * session id is in the claims); one whose backend was a process inside a router is moved as one whose backend
 * died; one whose version was removed since is moved as a rolled-back one is.
 */
import type { ServerState } from '../domain/types.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import { minimalInit, type Session } from './http-session.js';
import type { SessionBridges } from './session-bridges.js';
import type { SessionKeys } from './session-keys.js';
import type { RollbackPolicy, SessionMigration } from './session-migration.js';
import type { SessionTable } from './session-table.js';
import type { SessionClaims } from './session-token.js';

export interface AdoptionDeps {
  keys: SessionKeys;
  table: SessionTable;
  bridges: SessionBridges;
  migration: SessionMigration;
  metrics: VersionMetrics;
  now: () => number;
  onRollback: RollbackPolicy;
  /** This router's address (`http://host:port`), as sealed into the ids of sessions whose process it runs. */
  address: () => string;
  /** When this router started, epoch ms: an id of its own address sealed before then is a previous run's. */
  bornAt: number;
}

/** What the request that brought the id is: its HTTP method and MCP-Protocol-Version header. */
export interface Arrival {
  method: string | undefined;
  protocolVersion: string | undefined;
}

export class SessionAdoption {
  constructor(private readonly deps: AdoptionDeps) {}

  /**
   * The session of `sid`, taken on. Under `onRollback: '404'` a bridged one gets a string saying why it is
   * gone instead. Undefined for an id that does not open, names another server, or was ended by this router.
   */
  async adopt(arrival: Arrival, sid: string, server: ServerState): Promise<Session | string | undefined> {
    const { keys, table, metrics } = this.deps;
    const claims = await keys.open(sid);
    if (!claims || claims.server !== server.name) return undefined;
    const held = table.get(sid); // taken on by a request that opened it while this one waited
    if (held) return held;
    if (table.whyEnded(sid) !== undefined) return undefined; // its client ended it (through another router) meanwhile
    const record = server.versions.find((v) => v.version === claims.version);
    if (!record) return this.adoptRemoved(arrival, sid, server, claims);
    if (record.type !== 'http') return this.adoptBridged(arrival, sid, server, claims);
    const session: Session = { token: sid, server: server.name, version: record.version, record, startedAt: claims.startedAt, lastUsed: this.deps.now() };
    if (claims.backendSession !== undefined) session.backendSession = claims.backendSession;
    table.add(session);
    metrics.sessionStarted(server.name, record.version);
    return session;
  }

  /**
   * A session of a version removed since its id was sealed, on a router that does not hold it. Its record went
   * with the version, so nothing of its backend is known here; like a rolled-back version's, the session moves
   * to the version the weights choose (a minimal initialize replayed), keeping its id: its old backend session
   * is left to the backend's expiry, its old process (a bridged one) to its router. Under `onRollback: '404'`
   * it gets 404 naming the removal. Resolves with the session once it moved, or why not.
   */
  private async adoptRemoved(arrival: Arrival, sid: string, server: ServerState, claims: SessionClaims): Promise<Session | string | undefined> {
    const { table, metrics, migration } = this.deps;
    const why = `version ${claims.version} of "${server.name}" was removed`;
    if (this.deps.onRollback === '404') return why;
    // A bridged session of this router's run, ended here (the reason forgotten since): nothing more to say.
    if (claims.owner === this.deps.address() && claims.startedAt >= this.deps.bornAt) return undefined;
    const session: Session = { token: sid, server: server.name, version: claims.version, startedAt: claims.startedAt, lastUsed: this.deps.now(), init: minimalInit(arrival.protocolVersion) };
    table.add(session);
    metrics.sessionStarted(server.name, claims.version);
    const d = migration.decide(session);
    if (d.action === 'stay') return session; // (not reached: a removed version always moves or ends)
    return (await migration.act(session, d)) ?? session;
  }

  /**
   * A bridged session whose backend process is not in this router: its router is gone (or this router
   * restarted), or another router holds it. Sessions are not forwarded between routers: the session moves here
   * as one whose backend died (a new process on the version the weights choose, a minimal initialize replayed:
   * the id does not carry the client's), keeping its id; the client's server-side state on the old process is
   * lost. A DELETE needs no process: it is answered here. Resolves with the session once it moved, or why not.
   */
  private async adoptBridged(arrival: Arrival, sid: string, server: ServerState, claims: SessionClaims): Promise<Session | string | undefined> {
    const { table, metrics, bridges, migration } = this.deps;
    const address = this.deps.address();
    const ownRun = claims.owner === address && claims.startedAt >= this.deps.bornAt;
    // Ended here in this run (the reason forgotten since): nothing more to say than before.
    if (claims.owner === undefined || ownRun) return undefined;
    const away = claims.owner === address ? `its backend process was in this router before it restarted` : `its backend process is in the router at ${claims.owner}`;
    if (this.deps.onRollback === '404') return claims.owner === address ? undefined : `${away}, and sessions are not forwarded between routers (--on-rollback 404)`;
    const session: Session = { token: sid, server: server.name, version: claims.version, startedAt: claims.startedAt, lastUsed: this.deps.now(), init: minimalInit(arrival.protocolVersion) };
    // The client initialized long ago, on another router: the front takes its requests as an initialized session's.
    bridges.initializedFront(session);
    table.add(session);
    metrics.sessionStarted(server.name, claims.version);
    if (arrival.method === 'DELETE') return session; // its front ends it: no process is started for that
    const d = migration.decide(session, { backendDied: `${away}, not in this one` });
    if (d.action === 'stay') return session; // (not reached: a backend that died always moves or ends)
    return (await migration.act(session, d)) ?? session;
  }
}
