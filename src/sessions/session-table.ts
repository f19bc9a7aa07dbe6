/**
 * The HTTP router's open sessions, by id: what ends them (and why, for the 404 their clients get next), the
 * bridges left behind by moves until they have answered what they owe, and the process budget of the
 * sessions that run a backend process of their own. On a store that shares session ends (store.ts
 * SessionEndStore), a client's DELETE on any router of the store ends the session here too.
 */
import type { VersionRecord } from '../domain/types.js';
import { SessionReason } from '../domain/reasons.js';
import { StreamableFront } from '../fronts/streamable-front.js';
import { endBackendSession } from '../backends/http-forward.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import { remember, type Session } from './http-session.js';
import { admitProcess, idleExpired } from './process-budget.js';
import { releaseParked } from './sse-polling.js';
import type { SessionBridge } from './session-bridge.js';
import { isSessionDigest, sessionDigest } from './session-token.js';

export class SessionTable {
  private readonly sessions = new Map<string, Session>();
  private readonly endedWhy = new Map<string, string>(); // session token -> why the router ended it
  /** Digests of sessions their clients ended through another router, not held here then (bounded as endedWhy). */
  private readonly endedAway = new Map<string, string>();
  /** Once ends are shared (shareEnds): the held sessions' tokens by digest, and how this router tells the others. */
  private byDigest: Map<string, string> | undefined;
  private publish: ((digest: string) => void) | undefined;
  /** Bridges sessions moved away from, finishing their requests before they end. */
  private readonly retiring = new Set<SessionBridge>();

  constructor(private readonly metrics: VersionMetrics) {}

  get(token: string): Session | undefined {
    return this.sessions.get(token);
  }

  has(token: string): boolean {
    return this.sessions.has(token);
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }

  /** Registers a session under its token (its start is counted by the caller). */
  add(s: Session): void {
    this.sessions.set(s.token, s);
    this.byDigest?.set(s.digest ??= sessionDigest(s.token), s.token);
  }

  /**
   * From now on, a client's DELETE here is told to the other routers of the store through `publish` (a digest
   * of the session's id), and what they tell comes in through `endedElsewhere`. Without it (the file store),
   * a DELETE is known to the router it reaches only, and nothing is hashed.
   */
  shareEnds(publish: (digest: string) => void): void {
    this.publish = publish;
    this.byDigest = new Map([...this.sessions.values()].map((s) => [(s.digest ??= sessionDigest(s.token)), s.token]));
  }

  /**
   * Why the router ended the session of `token` ('' when its client did, here or through another router), or
   * undefined. A session held here costs no digest.
   */
  whyEnded(token: string): string | undefined {
    const why = this.endedWhy.get(token);
    if (why !== undefined || this.endedAway.size === 0 || this.sessions.has(token)) return why;
    return this.endedAway.get(sessionDigest(token));
  }

  /** The session of `token` was ended by its client: it is not to be taken on again here, nor by the other routers. */
  endedByClient(token: string): void {
    remember(this.endedWhy, token, '');
    this.publish?.(sessionDigest(token));
  }

  /**
   * Another router's client DELETE (`digest` of the session's id, see shareEnds): a session held here is
   * forgotten as one its client ended (its process or connection ended: what the client asked for; the
   * backend session of an HTTP version was ended by the router the DELETE reached), and one not held is not
   * taken on from its id later. This router's own notice coming back, or a digest of nothing, changes nothing
   * a client can see. Junk on the channel is ignored.
   */
  endedElsewhere(digest: string): void {
    if (!isSessionDigest(digest)) return;
    const token = this.byDigest?.get(digest);
    const s = token === undefined ? undefined : this.sessions.get(token);
    if (!s) return void remember(this.endedAway, digest, '');
    if (this.endedWhy.has(s.token)) return; // ended here already (this router's own notice, back from the store)
    remember(this.endedWhy, s.token, '');
    if (s.bridge) void this.end(s);
    else this.drop(s);
  }

  /** Open sessions of one server. */
  countOf(server: string): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.server === server) n++;
    return n;
  }

  /** Open sessions per server and version. */
  counts(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const s of this.sessions.values()) (out[s.server] ??= {})[s.version] = (out[s.server]?.[s.version] ?? 0) + 1;
    return out;
  }

  /** Sessions whose client holds its GET stream open now. */
  openStreams(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.listener || (s.front instanceof StreamableFront && s.front.listening)) n++;
    return n;
  }

  /** Forgets a session (its backend session, if any, lives on). */
  drop(s: Session): void {
    releaseParked(s);
    s.held?.close();
    if (!this.sessions.delete(s.token)) return;
    this.metrics.sessionEnded(s.server, s.version);
    if (s.digest !== undefined) this.byDigest?.delete(s.digest);
  }

  /**
   * Ends a session and its backend session or process; resolves once a process has exited. `why` (the router
   * ends it, not the client) is kept for the 404 its client gets next, and given to requests still open;
   * `reason`, its code, is counted once on /metrics.
   */
  async end(s: Session, why?: string, reason?: SessionReason): Promise<void> {
    if (why !== undefined && this.sessions.has(s.token)) {
      remember(this.endedWhy, s.token, why);
      if (reason !== undefined) this.metrics.sessionLeft(s.server, s.version, reason);
    }
    this.drop(s);
    if (s.bridge) await s.bridge.close(why === undefined ? undefined : `${why}; initialize a new session`);
    else if (s.backendSession !== undefined && s.record) await endBackendSession(s.record.url, s.record.headers, s.backendSession).catch(() => undefined);
  }

  /**
   * Forgets the least recently used idle session of `server` on an HTTP backend (no request in flight, no open
   * GET stream, no answer parked, not moving), to make room for a new one at the session cap. Its backend
   * session lives on: if its client comes back, this router (or any other of the store) takes it on again
   * from its id, as after a restart. Such entries pile up where a DELETE reaches another router of the store
   * (which ends the backend session there), so the cap bounds the router's memory rather than its clients.
   * Returns the session forgotten, or undefined when none is idle (sessions with a process or a connection of
   * their own are never forgotten: their backend lives in this router).
   */
  forgetIdleForwarded(server: string): Session | undefined {
    let lru: Session | undefined;
    for (const s of this.sessions.values()) {
      if (s.server !== server || s.front !== undefined || s.bridge !== undefined || s.record === undefined) continue;
      if ((s.leg?.inflight ?? 0) > 0 || s.listener || (s.parked?.size ?? 0) > 0 || s.moving) continue;
      if (!lru || s.lastUsed < lru.lastUsed) lru = s;
    }
    if (lru) this.drop(lru);
    return lru;
  }

  /** A bridge a session moved away from: it answers what it still owes through its detached link, then ends. */
  retire(oldBridge: SessionBridge): void {
    this.retiring.add(oldBridge);
    const retire = (): void => void oldBridge.close().then(() => this.retiring.delete(oldBridge));
    if (oldBridge.inFlight === 0) retire();
    else oldBridge.onsettled = retire;
  }

  /**
   * Ends every session with a backend process of its own and every retiring bridge; forgets the sessions on
   * HTTP backends (their backend sessions live on, and their ids open on another router of the store).
   */
  async closeAll(): Promise<void> {
    await Promise.all([...this.sessions.values()].map(async (s) => (s.bridge ? this.end(s) : this.drop(s))));
    await Promise.all([...this.retiring].map((b) => b.close()));
  }

  /**
   * Room for one more session process of a stdio version: resolves once the process that gives way for it (the
   * least recently used idle session's, at the `cap`) has exited, so the version never runs more than the cap.
   * A string when there is none: every session holding a process is busy. Other versions need no room.
   */
  makeRoom(server: string, record: VersionRecord, cap: number): Promise<unknown> | string {
    if (record.type !== 'stdio') return Promise.resolve();
    const holders = [...this.sessions.values()].filter((s) => s.process && s.server === server && s.version === record.version).map(holder);
    const d = admitProcess(holders, cap);
    if (!d.admit) return `server "${server}" version ${record.version} runs ${holders.length} backend processes for sessions, the most allowed (--max-processes ${cap}), and every one has a request in flight or an open stream; try again later`;
    if (!d.evict) return Promise.resolve();
    return this.end(d.evict.session, `server "${server}" version ${record.version} reached --max-processes ${cap} and this idle session was the least recently used: its backend process was ended`, SessionReason.ProcessCap);
  }

  /** Ends the sessions holding a backend process that have been idle `idleMs` at `now` (epoch ms). */
  endIdleProcesses(now: number, idleMs: number): void {
    const holders = [...this.sessions.values()].filter((s) => s.process).map(holder);
    for (const { session } of idleExpired(holders, now, idleMs)) {
      void this.end(session, `the session was idle for ${idleMs / 1000} s (--process-idle-timeout): its backend process was ended`, SessionReason.ProcessIdleTimeout);
    }
  }
}

/** A session as the process budget sees it: busy while a request is in flight or the client holds a stream open. */
function holder(s: Session): { session: Session; lastUsed: number; busy: boolean } {
  const streaming = s.front instanceof StreamableFront ? s.front.listening : s.front !== undefined; // an HTTP+SSE session is its stream
  return { session: s, lastUsed: s.lastUsed, busy: streaming || (s.bridge?.inFlight ?? 0) > 0 };
}
