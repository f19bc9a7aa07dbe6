/**
 * What happens to an HTTP router session its pin decision (domain/pin-decision.ts) does not let stay: under
 * `onRollback: 'migrate'` a `move` moves it live to the version the weights choose now, keeping its id (a
 * backend session opened with the client's `initialize` replayed, `list_changed` for each list that differs;
 * requests in flight on the old backend finish there); anything else ends it.
 */
import { listChangedNotices, surfaceOfContract, type Surface } from '../domain/list-changes.js';
import { NOTHING_SEEN, type Observed, type PinDecision, type PinPolicy, type PromotionPolicy } from '../domain/pin-decision.js';
import { SessionReason } from '../domain/reasons.js';
import type { VersionRecord } from '../domain/types.js';
import { chooseByWeight } from '../domain/weighted-choice.js';
import { noVersionCarriesTraffic, versionLabel } from '../protocol/router-errors.js';
import { SSE_HEADERS, sseEvent } from '../fronts/replies.js';
import { endBackendSession } from '../backends/http-forward.js';
import type { LiveView } from '../registry/live-view.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import { openBackendSession, readSurface, type BackendEndpoint } from './backend-session.js';
import type { FrontLink } from './front-link.js';
import { DEFAULT_HOLD, HeldStream } from './held-stream.js';
import { minimalInit, whenDone, type BackendOf, type Session } from './http-session.js';
import type { SessionBridges } from './session-bridges.js';
import { decideNow, noticesBetween, readLists, replayInitialize } from './session-move.js';
import type { SessionTable } from './session-table.js';

/** What a session does where its pin decision says `move`: move live (`migrate`), or end (`404`). */
export type RollbackPolicy = '404' | 'migrate';
export const ROLLBACK_POLICIES: readonly RollbackPolicy[] = ['404', 'migrate'];

/** How long the replayed initialize (and the list reads) of a moving session may take, ms. */
const MOVE_TIMEOUT_MS = 10_000;

export type Leaving = Exclude<PinDecision, { action: 'stay' }>;

export interface MigrationOptions {
  onPromote: PromotionPolicy;
  onRollback: RollbackPolicy;
  /** A session unused this long is ended by the sweep, ms. */
  idleTimeoutMs: number;
  /** How long an HTTP backend may take to accept a connection, ms. */
  connectTimeoutMs: number;
  /** Session processes a stdio version may run at once. */
  maxProcessesPerVersion: number;
  backendOf?: BackendOf | undefined;
}

export interface MigrationDeps {
  view: LiveView;
  table: SessionTable;
  bridges: SessionBridges;
  metrics: VersionMetrics;
  now: () => number;
  /** Draws in [0, 1) for choosing the version a session moves to. */
  draw: () => number;
}

export class SessionMigration {
  /** The pin policy of a request (no idle timeout: it has just arrived), and of the sweep. */
  private readonly policy: PinPolicy;
  private readonly idlePolicy: PinPolicy;

  constructor(private readonly deps: MigrationDeps, private readonly opts: MigrationOptions) {
    this.policy = { onPromote: opts.onPromote };
    this.idlePolicy = { onPromote: opts.onPromote, idleTimeoutMs: opts.idleTimeoutMs };
  }

  /**
   * The pin decision for a session now. `idle`: the idle timeout counts too (the sweep; a request that has
   * just arrived is not judged idle).
   */
  decide(s: Session, observed: Observed = NOTHING_SEEN, idle = false): PinDecision {
    return decideNow(this.deps.view, s, this.deps.now(), idle ? this.idlePolicy : this.policy, observed);
  }

  /**
   * Whether the session may serve a request now: waits for a move under way, then acts on the pin decision.
   * Resolves with why it ended (for the client's 404), or undefined when it goes on (it stayed, or moved);
   * undefined at once, not a promise, when it stays.
   */
  judge(s: Session): Promise<string | undefined> | undefined {
    // The common case answers at once, without a promise: a request's path takes no extra turn of the event loop.
    if (!s.moving && this.deps.table.has(s.token) && this.decide(s).action === 'stay') return undefined;
    return this.judgeSlowly(s);
  }

  private async judgeSlowly(s: Session): Promise<string | undefined> {
    if (s.moving) await s.moving;
    if (!this.deps.table.has(s.token)) return this.deps.table.whyEnded(s.token) || 'the session ended';
    const d = this.decide(s);
    return d.action === 'stay' ? undefined : this.act(s, d);
  }

  /** Something was seen of the session's backend (or the registry changed): acts if the session may not stay. */
  observed(s: Session, what: Observed = NOTHING_SEEN): void {
    if (s.moving) return;
    const d = this.decide(s, what);
    if (d.action !== 'stay') void this.act(s, d);
  }

  /**
   * Acts on a decision other than `stay`: a `move` under `onRollback: 'migrate'` moves the session live (one
   * move at a time); anything else ends it. Resolves with why it ended, or undefined once it moved.
   */
  async act(s: Session, d: Leaving): Promise<string | undefined> {
    if (d.action === 'move' && this.opts.onRollback === 'migrate') {
      s.moving ??= this.move(s, d).finally(() => (s.moving = undefined));
      const failed = await s.moving;
      if (failed === undefined) return undefined;
      await this.deps.table.end(s, failed, d.reason);
      return failed;
    }
    await this.deps.table.end(s, d.why, d.reason);
    return d.why;
  }

  /**
   * Moves a session to the version the weights choose now, keeping its id. Resolves with why it could not
   * (the session is then ended by the caller), or undefined. A session forwarded to an HTTP backend moving to
   * an HTTP version gets a new backend session (moveHttp); any other move puts a new bridge behind the
   * session's front (moveBridged), giving a forwarded session one first, so a move may cross backend kinds.
   */
  private move(s: Session, d: Leaving): Promise<string | undefined> {
    const server = this.deps.view.get(s.server);
    const record = server ? chooseByWeight(server.versions, this.deps.draw()) : undefined;
    if (!record) return Promise.resolve(`${d.why}, and ${noVersionCarriesTraffic(s.server)}`);
    return s.front === undefined && record.type === 'http' ? this.moveHttp(s, d, record as VersionRecord & { type: 'http' }) : this.moveBridged(s, d, record);
  }

  /** The list_changed notifications a session moving between two versions gets (see domain/list-changes.ts). */
  private async noticesAfterMove(server: string, from: { version: string; read?: () => Promise<Surface> }, to: { record: VersionRecord; read: () => Promise<Surface>; capabilities: unknown }): Promise<string[]> {
    if (from.version === to.record.version) return []; // the same version offers the same lists
    const before = this.deps.view.get(server)?.versions.find((v) => v.version === from.version)?.contract;
    if (before && to.record.contract) return listChangedNotices(surfaceOfContract(before), surfaceOfContract(to.record.contract));
    return noticesBetween(from.read, to.read, to.capabilities);
  }

  private async moveHttp(s: Session, d: Leaving, record: VersionRecord & { type: 'http' }): Promise<string | undefined> {
    const { table, metrics } = this.deps;
    const label = versionLabel(s.server, record.version);
    let ep: BackendEndpoint;
    let opened;
    const call = { timeoutMs: MOVE_TIMEOUT_MS, connectTimeoutMs: this.opts.connectTimeoutMs };
    // The new backend session's GET stream, held from before `notifications/initialized` until the client's GET.
    let held: HeldStream | undefined;
    const hold = (session: string | undefined, pv: string | undefined): Promise<void> | undefined => {
      if (session === undefined) return undefined;
      const h = new HeldStream(ep, session, pv, { ...DEFAULT_HOLD, connectTimeoutMs: this.opts.connectTimeoutMs }, () => {
        if (s.held === h) s.held = undefined;
      });
      held = h;
      return h.ready;
    };
    try {
      ep = this.opts.backendOf?.(s.server, record) ?? record;
      // An adopted session's initialize is not known here (the id does not carry it): a minimal one stands in.
      const init = s.init ?? minimalInit(s.protocolVersion);
      opened = await openBackendSession(ep, init, call, hold);
    } catch (e) {
      held?.close();
      return `${d.why}; moving the session failed: ${label} ${(e as Error).message}`;
    }
    const pv = typeof opened.result.protocolVersion === 'string' ? opened.result.protocolVersion : s.protocolVersion;
    const at = (session: string | undefined, version: string | undefined) => ({ ...call, ...(session === undefined ? {} : { session }), ...(version === undefined ? {} : { protocolVersion: version }) });
    const old = { version: s.version, record: s.record, backendSession: s.backendSession, leg: s.leg, pv: s.protocolVersion };
    const oldAlive = d.reason !== SessionReason.BackendSessionGone && old.record !== undefined;
    const notices = await this.noticesAfterMove(s.server, { version: old.version, ...(oldAlive ? { read: () => readSurface(old.record!, at(old.backendSession, old.pv)) } : {}) }, { record, read: () => readSurface(ep, at(opened.session, pv)), capabilities: opened.result.capabilities });
    if (!table.has(s.token)) {
      // Ended (by its client, or the router closing) while it moved: the new backend session is not wanted.
      held?.close();
      if (opened.session !== undefined) await endBackendSession(ep.url, ep.headers, opened.session);
      return table.whyEnded(s.token) || 'the session ended while it moved';
    }
    metrics.sessionLeft(s.server, old.version, d.reason);
    metrics.sessionEnded(s.server, old.version);
    s.version = record.version;
    s.record = ep;
    if (opened.session === undefined) delete s.backendSession;
    else s.backendSession = opened.session;
    if (pv !== undefined) s.protocolVersion = pv;
    s.startedAt = this.deps.now();
    s.leg = { inflight: 0 };
    s.staleEventIds = true;
    metrics.sessionStarted(s.server, record.version);
    // The client's GET stream carries the notices, and ends; without one, the held stream keeps them for its next.
    s.held?.close();
    if (held?.open) s.held = held;
    const l = s.listener;
    s.listener = undefined;
    if (l) endListener(l, notices);
    else held?.tell(notices);
    // The old backend session ends once the requests still running on it are answered (a backend that forgot
    // it has nothing to end).
    if (oldAlive && old.backendSession !== undefined && old.leg) {
      const { url, headers } = old.record!;
      const sid = old.backendSession;
      whenDone(old.leg, () => void endBackendSession(url, headers, sid));
    }
    return undefined;
  }

  /**
   * Puts a bridge to `record` behind the session's front. The switch happens before the first await: a bridge
   * whose backend died closes right after saying so, and must find its front detached.
   */
  private moveBridged(s: Session, d: Leaving, record: VersionRecord): Promise<string | undefined> {
    const { table, metrics, bridges } = this.deps;
    const label = versionLabel(s.server, record.version);
    const room = table.makeRoom(s.server, record, this.opts.maxProcessesPerVersion);
    if (typeof room === 'string') return Promise.resolve(`${d.why}; ${room}`);
    let target: VersionRecord;
    try {
      target = record.type === 'stdio' ? record : { ...record, ...(this.opts.backendOf?.(s.server, record) ?? {}) };
    } catch (e) {
      return Promise.resolve(`${d.why}; moving the session failed: ${label} ${(e as Error).message}`);
    }
    const fromVersion = s.version;
    // What the session leaves: its bridge (an adopted session has none here yet: its backend is in another
    // router, or was in this one's last run), or its HTTP backend session.
    const left = s.front === undefined ? this.leaveForwarded(s, d) : this.leaveBridge(s, d);
    metrics.sessionLeft(s.server, s.version, d.reason);
    metrics.sessionEnded(s.server, s.version);
    s.version = record.version;
    s.startedAt = this.deps.now();
    bridges.attach(s, target, room);
    const link = s.link!;
    return (async () => {
      try {
        const init = s.init ? await replayInitialize((...a) => link.request(...a), s.init, MOVE_TIMEOUT_MS) : undefined;
        if (init?.ok === false) return `${d.why}; moving the session failed: ${label} ${init.why}`;
        link.deliver({ jsonrpc: '2.0', method: 'notifications/initialized' });
        const notices = await this.noticesAfterMove(s.server, { version: fromVersion, ...(left.read ? { read: left.read } : {}) }, { record, read: readThrough(link), capabilities: init?.ok ? init.result.capabilities : undefined });
        if (!left.tell?.(notices)) for (const method of notices) link.notify(method);
        return undefined;
      } finally {
        left.done();
      }
    })();
  }

  /** A bridged session leaves its bridge: detached now, retired once the move is done. */
  private leaveBridge(s: Session, d: Leaving): Left {
    const oldBridge = s.bridge;
    const oldLink = s.link;
    oldLink?.detach();
    return {
      ...(d.reason !== SessionReason.BackendDied && oldLink ? { read: readThrough(oldLink) } : {}),
      done: () => oldBridge && this.deps.table.retire(oldBridge),
    };
  }

  /**
   * A session forwarded to an HTTP backend gets a front of its own (taking its requests as an initialized
   * session's) and leaves its backend session, which ends once the move is done and its requests are answered.
   * The client's GET stream, if open, carries the move's notices and ends (the SDK client opens it again, on
   * the front); without one, the front holds the notices for it.
   */
  private leaveForwarded(s: Session, d: Leaving): Left {
    const old = { record: s.record, backendSession: s.backendSession, leg: s.leg, pv: s.protocolVersion };
    const alive = d.reason !== SessionReason.BackendSessionGone && old.record !== undefined;
    let l = s.listener;
    s.held?.close();
    for (const k of ['record', 'backendSession', 'leg', 'listener', 'held', 'staleEventIds'] as const) delete s[k];
    const tell = (notices: string[]): boolean => {
      if (!l || l.res.writableEnded || l.res.destroyed) return false; // none, or the client closed it meanwhile
      endListener(l, notices);
      l = undefined;
      return true;
    };
    this.deps.bridges.initializedFront(s);
    const at = { timeoutMs: MOVE_TIMEOUT_MS, connectTimeoutMs: this.opts.connectTimeoutMs, ...(old.backendSession === undefined ? {} : { session: old.backendSession }), ...(old.pv === undefined ? {} : { protocolVersion: old.pv }) };
    return {
      ...(alive ? { read: () => readSurface(old.record!, at) } : {}),
      tell,
      done: () => {
        tell([]); // a move that failed: the stream ends all the same
        if (!alive || old.backendSession === undefined || !old.leg) return;
        const { url, headers } = old.record!;
        const sid = old.backendSession;
        whenDone(old.leg, () => void endBackendSession(url, headers, sid));
      },
    };
  }
}

/**
 * What a moving session left: how to read its lists there (while it can), what to do once it moved, and
 * `tell`, which gives the client the move's notices on a stream of the old backend's (false: it has none open).
 */
interface Left {
  read?: () => Promise<Surface>;
  tell?: (notices: string[]) => boolean;
  done: () => void;
}

/**
 * Ends a client's GET stream of a backend session it moved away from: the backend's side stops, the notices go
 * out, and it ends; the SDK client opens it again (after its reconnection delay), on the session's new backend.
 */
function endListener(l: NonNullable<Session['listener']>, notices: string[]): void {
  l.stop.abort();
  if (!l.res.headersSent) l.res.writeHead(200, SSE_HEADERS);
  // Two line breaks first: whatever the old backend's stream was in the middle of ends there.
  l.res.end(`\n\n${notices.map((method) => sseEvent({ jsonrpc: '2.0', method })).join('')}`);
}

/** Reads a bridge's lists through its link to the front (the answers do not reach the client). */
function readThrough(l: FrontLink): () => Promise<Surface> {
  return () => readLists((...a) => l.request(...a), MOVE_TIMEOUT_MS);
}
