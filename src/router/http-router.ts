/**
 * The long-running HTTP router: `/mcp/<name>` for every registered server, splitting client sessions between
 * versions by the registry's weights, pinning each session to its version, forwarding the MCP protocol.
 * - Legacy era (initialize): the version is chosen when the session starts; the router issues its own sealed
 *   `Mcp-Session-Id` bound to the version and the backend's session; later POST, GET and DELETE reach it.
 * - Modern era (2026-07-28, no session): each request is routed, but one client stays on one version (a
 *   stickiness key) and an `input_required` retry returns to the version that asked.
 * - Live changes: new sessions follow the current weights; existing ones stay (`onPromote: 'drain'`, the
 *   default; `move` moves them at a promotion). What a pinned session does is domain/pin-decision.ts, shared
 *   with the stdio proxy. Where it says `move` (its version rolled back or removed, its backend process died,
 *   its HTTP backend forgot the session), the session moves live (`onRollback: 'migrate'`, the default): it
 *   keeps its `Mcp-Session-Id`, gets a backend session on the version the weights now choose with the client's
 *   `initialize` replayed, and a `list_changed` on its GET stream for each list that differs; requests in
 *   flight on the old backend finish there. `onRollback: '404'` ends it instead, as the specification says
 *   (the client must start a new session).
 * Backends: Streamable HTTP versions (forwarded); stdio versions get a process per legacy session, and one
 * pooled process per version for stateless requests. Session processes are bounded: at most
 * `maxProcessesPerVersion` per version (the least recently used idle session gives way), ended after
 * `processIdleTimeoutMs` idle, and ended the moment their version is rolled back or removed.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LISTS, listChangedNotices, noticesForCapabilities, surfaceOfContract, type Surface } from '../domain/list-changes.js';
import { decidePin, type Observed, type PinDecision, type PromotionPolicy } from '../domain/pin-decision.js';
import { SessionReason } from '../domain/reasons.js';
import { chooseByWeight, hashDraw } from '../domain/weighted-choice.js';
import type { ServerState, VersionRecord } from '../domain/types.js';
import { brokeOff, didNotAnswer, malformedAnswer, noVersionCarriesTraffic, unreachable, versionLabel } from '../protocol/router-errors.js';
import type { LiveView } from '../registry/live-view.js';
import { checkRequest, type GuardOptions } from '../fronts/guard.js';
import { json, plain, rpcError, SSE_HEADERS, sseEvent } from '../fronts/replies.js';
import { SessionKeys } from '../sessions/session-keys.js';
import type { SessionClaims } from '../sessions/session-token.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { answerOutcome, RequestLedger, type ErrorReply } from '../sessions/request-ledger.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { SessionBridge } from '../sessions/session-bridge.js';
import { openBackendSession, readSurface, type BackendEndpoint } from '../sessions/backend-session.js';
import { FrontLink } from '../sessions/front-link.js';
import { StreamableFront } from '../fronts/streamable-front.js';
import { StdioPool } from '../backends/stdio-pool.js';
import { Lifeline } from '../backends/lifeline.js';
import type { StdioOptions } from '../backends/stdio-upstream.js';
import { endBackendSession, forward, TimeoutError, type ForwardResult } from '../backends/http-forward.js';
import { closeIdleBackendConnections, CONNECT_TIMEOUT_MS, MalformedAnswerError } from '../backends/backend-client.js';
import { mcpRequestHeaders } from '../protocol/modern-headers.js';
import { processMetrics } from '../telemetry/process-metrics.js';
import { admitProcess, idleExpired } from '../sessions/process-budget.js';
import { VersionMetrics } from '../telemetry/version-metrics.js';

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
  backendOf?: (server: string, record: VersionRecord & { type: 'http' | 'sse' }) => { url: string; headers: Record<string, string> };
}

export type RollbackPolicy = '404' | 'migrate';
export const ROLLBACK_POLICIES: readonly RollbackPolicy[] = ['404', 'migrate'];

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

/** How long the replayed initialize (and the list reads) of a moving session may take, ms. */
const MOVE_TIMEOUT_MS = 10_000;

interface Session {
  token: string;
  server: string;
  version: string;
  /** Where an HTTP backend is (absent for a stdio backend, which `bridge` serves). */
  record?: { url: string; headers: Record<string, string> };
  bridge?: SessionBridge;
  /** The client-facing transport of a bridged session: Streamable HTTP, or legacy HTTP+SSE. */
  front?: StreamableFront | SSEServerTransport;
  backendSession?: string;
  /** It runs a backend process of its own (a bridged stdio version), which the process budget bounds. */
  process?: boolean;
  /** When the session was pinned to `version` (it started, or last moved), epoch ms. */
  startedAt: number;
  lastUsed: number;
  /** The client's initialize params, replayed to the new backend when the session moves. */
  init?: Record<string, unknown>;
  /** The protocol version the session speaks (its initialize result, or an adopted session's header). */
  protocolVersion?: string;
  /** An HTTP session's requests on its current backend session (the one it leaves is ended once they are done). */
  leg?: Leg;
  /** An HTTP session's GET stream while its client holds it open: a move writes list_changed on it, then ends it. */
  listener?: { res: ServerResponse; stop: AbortController };
  /** The client's SSE event ids came from a backend session it has left: not passed to the next one. */
  staleEventIds?: boolean;
  /** A bridged session: its current bridge's link to the front (a move puts a new bridge behind the same front). */
  link?: FrontLink;
  /** A move under way: the session's requests wait for it. Resolves with why it ended instead, or undefined. */
  moving?: Promise<string | undefined>;
}

/** One backend session of an HTTP session: its requests in flight, and what to do once they are done after a move. */
interface Leg {
  inflight: number;
  left?: () => void;
}

/**
 * One exchange with a backend: the body and its messages (none for GET and DELETE); `withHeaders` adds headers
 * to the client's response once the backend's status is known (default none); `onResult` sees each answer to
 * a request of the body; `intercept`: a 404 from a backend that should know the session is not passed on.
 */
interface Exchange {
  body?: Buffer | undefined;
  messages: JsonRpc[];
  withHeaders?: Parameters<typeof forward>[2];
  onResult?: ((m: unknown) => void) | undefined;
  intercept?: boolean;
}

type JsonRpc = { jsonrpc?: string; id?: string | number | null; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: unknown };

const MODERN = '2026-07-28';
const LISTEN = 'subscriptions/listen';

export class HttpRouter {
  readonly metrics = new VersionMetrics();
  /** Seals and opens session ids with the key ring shared through the store (any router opens any id). */
  private readonly keys: SessionKeys;
  /** `http://host:port`, sealed into the ids of sessions whose backend process lives in this router. */
  private address = '';
  /** When this router started, epoch ms: an id of its own address sealed before then is a previous run's. */
  private readonly bornAt: number;
  private readonly pool: StdioPool;
  /** Ends every stdio backend's process group if the router dies without doing so (SIGKILL, a crash). */
  private readonly lifeline = new Lifeline();
  private readonly stdioOptions: StdioOptions;
  private readonly sessions = new Map<string, Session>();
  private readonly sticky = new Map<string, string>(); // server + client key -> version
  private readonly requestStates = new Map<string, string>(); // server + requestState hash -> version
  private readonly retiredAt = new Map<string, number>(); // server + version -> when it stopped being active
  private readonly endedWhy = new Map<string, string>(); // session token -> why the router ended it
  /** Bridges sessions moved away from, finishing their requests before they end. */
  private readonly retiring = new Set<SessionBridge>();
  private readonly http: http.Server;
  private inflight = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private snapshotter: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(
    private readonly view: LiveView,
    private readonly opts: HttpRouterOptions = DEFAULT_ROUTER_OPTIONS,
    private readonly now: () => number = Date.now,
    /** Draws in [0, 1) for choosing a new session's version (seedable in tests). */
    private readonly draw: () => number = Math.random,
  ) {
    this.keys = new SessionKeys(view.store);
    this.bornAt = now();
    this.stdioOptions = { maxMessageBytes: opts.maxBodyBytes, lifeline: this.lifeline };
    this.pool = new StdioPool(this.metrics, this.stdioOptions, opts.requestTimeoutMs);
    this.http = http.createServer((req, res) => void this.handle(req, res));
    this.http.keepAliveTimeout = 30_000;
    view.on('change', () => this.onRegistryChange());
    this.onRegistryChange();
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    await this.keys.start();
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.sweeper = setInterval(() => this.sweepIdle(), Math.max(100, Math.min(30_000, this.opts.idleTimeoutMs, this.opts.rollbackWindowMs, this.opts.processIdleTimeoutMs)));
    this.sweeper.unref();
    this.snapshotter = setInterval(() => this.metrics.snapshot(this.now()), 1000);
    this.snapshotter.unref();
    const { port } = this.http.address() as AddressInfo;
    this.address = `http://${this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host}:${port}`;
    return port;
  }

  /** Versions with a warm pooled process (for stateless requests), as `server@version`. */
  pooledVersions(): string[] {
    return this.pool.running().map((k) => k.replace('\u0000', '@')).sort();
  }

  /** Open sessions per server and version (for status and tests). */
  sessionCounts(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const s of this.sessions.values()) (out[s.server] ??= {})[s.version] = (out[s.server]?.[s.version] ?? 0) + 1;
    return out;
  }

  /** Sessions whose client holds its GET stream open now (for tests: a moved session's notices go there). */
  openStreams(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.listener || (s.front instanceof StreamableFront && s.front.listening)) n++;
    return n;
  }

  /**
   * Graceful stop: no new connections, in-flight requests get up to `deadlineMs` to finish, then every
   * session with a backend process of its own is ended and every connection closed. Sessions on HTTP
   * backends are only forgotten: their backend sessions live on, and their ids open on a restarted router or
   * any other router of the store, which carries them on.
   */
  async close(deadlineMs = 10_000): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    clearInterval(this.snapshotter);
    this.keys.stop();
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    const until = Date.now() + deadlineMs;
    while (this.inflight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await Promise.all([...this.sessions.values()].map(async (s) => (s.bridge ? this.endSession(s) : this.dropSession(s))));
    await Promise.all([...this.retiring].map((b) => b.close()));
    await this.pool.close();
    closeIdleBackendConnections();
    this.lifeline.close();
    this.http.closeAllConnections();
    await closed;
  }

  private onRegistryChange(): void {
    // Sessions the pin decision no longer lets stay (rolled back, removed, promoted away under `move`) move or
    // end now, not at their next request: a client that never sends one would keep its process to the idle
    // timeout, and a moved client hears of the new lists at once.
    for (const s of this.sessions.values()) {
      if (s.moving) continue;
      const d = this.decide(s);
      if (d.action !== 'stay') void this.act(s, d);
    }
  }

  /**
   * The pin decision for a session now. `idle`: the idle timeout counts too (the sweep; a request that has
   * just arrived is not judged idle).
   */
  private decide(s: Session, observed: Observed = {}, idle = false): PinDecision {
    const pin = { server: s.server, version: s.version, pinnedAt: s.startedAt, lastUsed: s.lastUsed };
    return decidePin(this.view.get(s.server), pin, this.now(), { onPromote: this.opts.onPromote, ...(idle ? { idleTimeoutMs: this.opts.idleTimeoutMs } : {}) }, observed);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Long-lived GET streams are not "in flight": shutdown does not wait for them.
    if (req.method !== 'GET') {
      this.inflight++;
      res.on('close', () => this.inflight--);
    }
    try {
      const refusal = checkRequest(req.headers, this.opts);
      if (refusal) return plain(res, refusal.status, refusal.message, refusal.headers);
      const path = (req.url ?? '/').split('?')[0]!;
      if (path === '/healthz') return plain(res, 200, 'ok');
      if (path === '/readyz') return this.view.lastError ? plain(res, 503, `registry unreadable: ${this.view.lastError}`) : plain(res, this.closing ? 503 : 200, this.closing ? 'shutting down' : 'ready');
      if (path === '/metrics') return plain(res, 200, this.metrics.prometheus(processMetrics()), { 'content-type': 'text/plain; version=0.0.4' });
      if (path === '/telemetry/window') return this.telemetryWindow(req, res);
      if (path === '/telemetry/totals') return json(res, 200, this.metrics.totals());
      const m = /^\/(mcp|sse)\/([^/]+)(\/messages)?$/.exec(path);
      if (!m || (m[1] === 'mcp' && m[3])) return plain(res, 404, `no route for ${path}: use /mcp/<server> (or /sse/<server> for HTTP+SSE clients)`);
      const name = decodeURIComponent(m[2]!);
      const server = this.view.get(name);
      if (!server) return rpcError(res, 404, -32001, `unknown server "${name}"`, null);
      if (this.closing) return rpcError(res, 503, -32000, 'the router is shutting down', null);
      if (m[1] === 'sse') {
        if (m[3] && req.method === 'POST') return this.sseMessage(req, res, server);
        if (!m[3] && req.method === 'GET') return this.startSseClient(req, res, server);
        return plain(res, 405, 'GET /sse/<server> opens the stream; POST /sse/<server>/messages sends', { allow: m[3] ? 'POST' : 'GET' });
      }
      await this.route(req, res, server);
    } catch (e) {
      if (!res.headersSent) rpcError(res, 500, -32603, `router error: ${(e as Error).message}`, null);
      else res.destroy();
    }
  }

  /** What one version did since a time: `/telemetry/window?server=&version=&since=<epoch ms>` (for rollout runners). */
  private telemetryWindow(req: IncomingMessage, res: ServerResponse): void {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const server = q.get('server');
    const version = q.get('version');
    const since = Number(q.get('since'));
    if (!server || !version || !Number.isFinite(since)) return plain(res, 400, 'need server, version and since (epoch ms)');
    json(res, 200, this.metrics.window(server, version, since));
  }

  private async route(req: IncomingMessage, res: ServerResponse, server: ServerState): Promise<void> {
    const sid = header(req, 'mcp-session-id');
    if (req.method === 'GET' || req.method === 'DELETE') {
      if (sid === undefined) return rpcError(res, req.method === 'GET' ? 405 : 400, -32000, `${req.method} needs an Mcp-Session-Id (no legacy session, no stream)`, null, { allow: 'POST' });
      return this.inSession(req, res, server, sid, undefined, []);
    }
    if (req.method !== 'POST') return plain(res, 405, 'use POST, GET or DELETE', { allow: 'GET, POST, DELETE' });
    // The POST is dispatched the moment its last byte is in, not a tick later: the backend hears of it sooner.
    return new Promise((resolve, reject) =>
      readBody(req, this.opts.maxBodyBytes, (body) => {
        try {
          resolve(this.dispatch(req, res, server, sid, body));
        } catch (e) {
          reject(e as Error);
        }
      }, reject),
    );
  }

  /** A POST with its body read (undefined: over the size limit): parsed, then sent where it belongs. */
  private dispatch(req: IncomingMessage, res: ServerResponse, server: ServerState, sid: string | undefined, body: Buffer | undefined): Promise<void> | void {
    if (body === undefined) return rpcError(res, 413, -32600, `request body larger than ${this.opts.maxBodyBytes} bytes`, null);
    let parsed: JsonRpc | JsonRpc[];
    try {
      parsed = JSON.parse(body.toString('utf8')) as JsonRpc | JsonRpc[];
    } catch (e) {
      return rpcError(res, 400, -32700, `parse error: ${(e as Error).message}`, null);
    }
    const messages = Array.isArray(parsed) ? parsed : [parsed];
    if (messages.length === 0 || messages.some((m) => typeof m !== 'object' || m === null)) {
      return rpcError(res, 400, -32600, 'Invalid Request: expected a JSON-RPC object or a non-empty batch', null);
    }
    if (sid !== undefined) return this.inSession(req, res, server, sid, body, messages);
    if (messages.some((x) => x.method === 'initialize')) return this.startSession(req, res, server, body, messages);
    if (isModern(req, messages)) return this.modern(req, res, server, body, messages);
    return rpcError(res, 400, -32000, 'Bad Request: no Mcp-Session-Id; start with initialize', messages[0]?.id ?? null);
  }

  private async startSession(req: IncomingMessage, res: ServerResponse, server: ServerState, body: Buffer, messages: JsonRpc[]): Promise<void> {
    const open = [...this.sessions.values()].filter((s) => s.server === server.name).length;
    if (open >= this.opts.maxSessionsPerServer) {
      return rpcError(res, 503, -32000, `server "${server.name}" has ${open} open sessions, the most allowed`, messages[0]?.id ?? null);
    }
    const record = chooseByWeight(server.versions, this.draw());
    if (!record) return rpcError(res, 503, -32603, noVersionCarriesTraffic(server.name), messages[0]?.id ?? null);
    if (record.type !== 'http') return this.startBridgedSession(req, res, server, record, messages);
    const started = this.now();
    const session: Session = { token: '', server: server.name, version: record.version, record: this.opts.backendOf?.(server.name, record) ?? record, startedAt: started, lastUsed: started, leg: { inflight: 0 } };
    const init = messages.find((x) => x.method === 'initialize')?.params;
    if (init) session.init = init;
    const keepVersion = (m: unknown): void => {
      const pv = (m as JsonRpc).result?.protocolVersion;
      if (typeof pv === 'string') session.protocolVersion = pv;
    };
    await this.exchange(req, res, session, { body, messages, onResult: keepVersion, withHeaders: (r): Record<string, string> => {
      if (r.status >= 300) return {};
      if (r.backendSession !== undefined) session.backendSession = r.backendSession;
      session.token = this.keys.seal({ server: server.name, version: record.version, startedAt: started, ...(r.backendSession === undefined ? {} : { backendSession: r.backendSession }) });
      this.sessions.set(session.token, session);
      this.metrics.sessionStarted(server.name, record.version);
      return { 'mcp-session-id': session.token };
    } });
  }

  /**
   * A legacy session on a stdio version (its own process) or an sse version (its own SSE connection),
   * bridged to Streamable HTTP for the session's lifetime.
   */
  private startBridgedSession(req: IncomingMessage, res: ServerResponse, server: ServerState, record: VersionRecord, messages: JsonRpc[]): void {
    const room = this.makeRoom(server.name, record);
    if (typeof room === 'string') return rpcError(res, 503, -32000, room, messages[0]?.id ?? null);
    const started = this.now();
    const token = this.keys.seal({ server: server.name, version: record.version, startedAt: started, owner: this.address });
    const session: Session = { token, server: server.name, version: record.version, startedAt: started, lastUsed: started };
    const init = messages.find((x) => x.method === 'initialize')?.params;
    if (init) session.init = init;
    const front = new StreamableFront(token, () => void session.bridge?.close());
    this.bridge(session, record, front, room);
    front.handleRequest(req, res, messages.length === 1 ? messages[0] : messages);
    // A refused initialize (not acceptable, not JSON-RPC, batched) leaves no session, and no process, behind.
    if (!front.initialized) void this.endSession(session);
  }

  /**
   * Room for one more session process of a stdio version: resolves once the process that gives way for it (the
   * least recently used idle session's, at the cap) has exited, so the version never runs more than the cap.
   * A string when there is none: every session holding a process is busy. Other versions need no room.
   */
  private makeRoom(server: string, record: VersionRecord): Promise<unknown> | string {
    if (record.type !== 'stdio') return Promise.resolve();
    const cap = this.opts.maxProcessesPerVersion;
    const holders = [...this.sessions.values()].filter((s) => s.process && s.server === server && s.version === record.version).map((s) => this.holder(s));
    const d = admitProcess(holders, cap);
    if (!d.admit) return `server "${server}" version ${record.version} runs ${holders.length} backend processes for sessions, the most allowed (--max-processes ${cap}), and every one has a request in flight or an open stream; try again later`;
    if (!d.evict) return Promise.resolve();
    return this.endSession(d.evict.session, `server "${server}" version ${record.version} reached --max-processes ${cap} and this idle session was the least recently used: its backend process was ended`, SessionReason.ProcessCap);
  }

  /** A session as the process budget sees it: busy while a request is in flight or the client holds a stream open. */
  private holder(s: Session): { session: Session; lastUsed: number; busy: boolean } {
    const streaming = s.front instanceof StreamableFront ? s.front.listening : s.front !== undefined; // an HTTP+SSE session is its stream
    return { session: s, lastUsed: s.lastUsed, busy: streaming || (s.bridge?.inFlight ?? 0) > 0 };
  }

  /** Wires a session's client-facing transport to its backend and registers the session. */
  private bridge(session: Session, record: VersionRecord, front: StreamableFront | SSEServerTransport, room: Promise<unknown>): void {
    this.wireFront(session, front);
    this.attachBridge(session, record, room);
    this.sessions.set(session.token, session);
  }

  /** Gives a bridged session its client-facing transport, which speaks to whichever bridge is current. */
  private wireFront(session: Session, front: StreamableFront | SSEServerTransport): void {
    session.front = front;
    // A move replaces the bridge, not the front.
    front.onmessage = (m: JSONRPCMessage) => session.link?.deliver(m);
    front.onclose = () => session.link?.onclose?.();
    if (front instanceof StreamableFront) front.onbacklog = (full) => session.bridge?.backlog(full);
  }

  /** A bridge to a backend on `record` behind the session's front, made the session's current one. */
  private attachBridge(session: Session, record: VersionRecord, room: Promise<unknown>): SessionBridge {
    const link = new FrontLink(session.front!);
    // Callbacks of a bridge the session has moved away from concern that bridge only, not the session.
    const bridge: SessionBridge = new SessionBridge(session.server, record, link, this.metrics, () => session.bridge === bridge && this.dropSession(session), this.stdioOptions, this.opts.requestTimeoutMs, room);
    bridge.onsettled = () => (session.lastUsed = this.now());
    bridge.ondied = (reason) => session.bridge === bridge && this.observed(session, { backendDied: reason });
    session.process = record.type === 'stdio';
    session.bridge = bridge;
    session.link = link;
    this.metrics.sessionStarted(session.server, record.version);
    return bridge;
  }

  /**
   * `GET /sse/<name>`: a session of the legacy HTTP+SSE transport for older clients. The version is chosen
   * by weight; the stream's first event names the URL to POST messages to.
   */
  private startSseClient(req: IncomingMessage, res: ServerResponse, server: ServerState): void {
    const record = chooseByWeight(server.versions, this.draw());
    if (!record) return plain(res, 503, noVersionCarriesTraffic(server.name));
    const room = this.makeRoom(server.name, record);
    if (typeof room === 'string') return plain(res, 503, room);
    const started = this.now();
    const front = new SSEServerTransport(`/sse/${encodeURIComponent(server.name)}/messages`, res);
    const session: Session = { token: front.sessionId, server: server.name, version: record.version, startedAt: started, lastUsed: started };
    this.bridge(session, record, front, room);
    res.on('close', () => void session.bridge?.close());
    void front.start();
  }

  /** `POST /sse/<name>/messages?sessionId=...`: one message of a legacy HTTP+SSE session. */
  private async sseMessage(req: IncomingMessage, res: ServerResponse, server: ServerState): Promise<void> {
    const sid = new URL(req.url ?? '/', 'http://x').searchParams.get('sessionId') ?? '';
    const session = this.sessions.get(sid);
    if (!session || session.server !== server.name || !(session.front instanceof SSEServerTransport)) {
      const why = this.endedWhy.get(sid);
      return plain(res, 404, why === undefined ? 'Session not found' : `Session not found: ${why}; connect again`);
    }
    const why = await this.judge(session);
    if (why !== undefined) return plain(res, 404, `Session not found: ${why}; connect again`);
    session.lastUsed = this.now();
    const body = await new Promise<Buffer | undefined>((resolve, reject) => readBody(req, this.opts.maxBodyBytes, resolve, reject));
    if (body === undefined) return plain(res, 413, `request body larger than ${this.opts.maxBodyBytes} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (e) {
      return plain(res, 400, `parse error: ${(e as Error).message}`);
    }
    await session.front.handlePostMessage(req, res, parsed);
  }

  private async inSession(req: IncomingMessage, res: ServerResponse, server: ServerState, sid: string, body: Buffer | undefined, messages: JsonRpc[]): Promise<void> {
    const id = messages.find((x) => x.id !== undefined)?.id ?? null;
    const why = this.endedWhy.get(sid);
    const session = this.sessions.get(sid) ?? (why === undefined ? await this.adopt(req, sid, server) : undefined);
    if (typeof session === 'string' || !session || session.server !== server.name) {
      const reason = typeof session === 'string' ? session : why;
      return rpcError(res, 404, -32001, `Session not found: ${reason ? `${reason}; ` : ''}initialize a new session`, id);
    }
    return this.inOpenSession(req, res, session, body, messages, id);
  }

  /**
   * A session id this router does not hold but the key ring opens: sealed by this router before a restart or
   * by another router of the store. A session on an HTTP backend is taken on (its backend session id is in
   * the claims) and carries on here. One whose backend was a process inside a router (a bridged stdio or sse
   * version) is taken on as a session whose backend is gone, and moved (see adoptBridged); under
   * `onRollback: '404'` it gets a string saying why it is gone instead. Undefined for an id that does not
   * open, names another server, or was ended by this router.
   */
  private async adopt(req: IncomingMessage, sid: string, server: ServerState): Promise<Session | string | undefined> {
    const claims = await this.keys.open(sid);
    if (!claims || claims.server !== server.name) return undefined;
    const held = this.sessions.get(sid); // taken on by a request that opened it while this one waited
    if (held) return held;
    const record = server.versions.find((v) => v.version === claims.version);
    if (!record) return `version ${claims.version} of "${server.name}" was removed`;
    if (record.type !== 'http') return this.adoptBridged(req, sid, server, claims);
    const session: Session = { token: sid, server: server.name, version: record.version, record, startedAt: claims.startedAt, lastUsed: this.now() };
    if (claims.backendSession !== undefined) session.backendSession = claims.backendSession;
    this.sessions.set(sid, session);
    this.metrics.sessionStarted(server.name, record.version);
    return session;
  }

  /**
   * A bridged session whose backend process is not in this router: its router is gone (or this router
   * restarted), or another router holds it. Sessions are not forwarded between routers: the session moves here
   * as one whose backend died (a new process on the version the weights choose, a minimal initialize replayed:
   * the id does not carry the client's), keeping its id; the client's server-side state on the old process is
   * lost. A DELETE needs no process: it is answered here. Resolves with the session once it moved, or why not.
   */
  private async adoptBridged(req: IncomingMessage, sid: string, server: ServerState, claims: SessionClaims): Promise<Session | string | undefined> {
    const ownRun = claims.owner === this.address && claims.startedAt >= this.bornAt;
    // Ended here in this run (the reason forgotten since): nothing more to say than before.
    if (claims.owner === undefined || ownRun) return undefined;
    const away = claims.owner === this.address ? `its backend process was in this router before it restarted` : `its backend process is in the router at ${claims.owner}`;
    if (this.opts.onRollback === '404') return claims.owner === this.address ? undefined : `${away}, and sessions are not forwarded between routers (--on-rollback 404)`;
    const session: Session = { token: sid, server: server.name, version: claims.version, startedAt: claims.startedAt, lastUsed: this.now(), init: minimalInit(header(req, 'mcp-protocol-version')) };
    const ended = (): void => {
      remember(this.endedWhy, sid, ''); // ended by its client: not to be taken on again here
      if (session.bridge) void session.bridge.close();
      else this.dropSession(session);
    };
    // The client initialized long ago, on another router: the front takes its requests as an initialized session's.
    this.wireFront(session, new StreamableFront(sid, ended, true));
    this.sessions.set(sid, session);
    this.metrics.sessionStarted(server.name, claims.version);
    if (req.method === 'DELETE') return session; // its front ends it: no process is started for that
    const d = this.decide(session, { backendDied: `${away}, not in this one` });
    if (d.action === 'stay') return session; // (not reached: a backend that died always moves or ends)
    return (await this.act(session, d)) ?? session;
  }

  private async inOpenSession(req: IncomingMessage, res: ServerResponse, session: Session, body: Buffer | undefined, messages: JsonRpc[], id: string | number | null): Promise<void> {
    session.protocolVersion ??= header(req, 'mcp-protocol-version');
    const why = await this.judge(session);
    if (why !== undefined) return rpcError(res, 404, -32001, `Session not found: ${why}; initialize a new session`, id);
    session.lastUsed = this.now();
    if (session.front instanceof StreamableFront) {
      // The session's idle time counts from when its client stopped listening.
      if (req.method === 'GET') res.on('close', () => (session.lastUsed = this.now()));
      return session.front.handleRequest(req, res, req.method === 'POST' ? (messages.length === 1 ? messages[0] : messages) : undefined);
    }
    if (session.front) return rpcError(res, 404, -32001, 'Session not found: this session uses the /sse endpoint', id);
    if (req.method === 'DELETE') {
      remember(this.endedWhy, session.token, ''); // ended by its client: not to be taken on again here
      this.dropSession(session);
      await this.exchange(req, res, session, { messages: [] });
      return;
    }
    const leg = session.leg;
    const migrate = this.opts.onRollback === 'migrate';
    const outcome = await this.exchange(req, res, session, { body, messages, intercept: migrate, withHeaders: (r) => {
      // The backend forgot the session (it restarted): under `404`, its 404 goes to the client and the session
      // ends here. (Under `migrate` the 404 is intercepted below.)
      if (r.status === 404 && session.backendSession !== undefined) this.observed(session, { backendSessionGone: true });
      return {};
    } });
    if (!outcome?.intercepted) return;
    // The backend answered 404 without serving the request: the session moves (unless a request that met the
    // same 404 moved it already), and the request is sent once more, to the new backend session.
    if (session.leg === leg && !session.moving) {
      const d = this.decide(session, { backendSessionGone: true });
      const ended = d.action === 'stay' ? undefined : await this.act(session, d);
      if (ended !== undefined) return rpcError(res, 404, -32001, `Session not found: ${ended}; initialize a new session`, id);
    }
    const again = await this.judge(session);
    if (again !== undefined) return rpcError(res, 404, -32001, `Session not found: ${again}; initialize a new session`, id);
    await this.exchange(req, res, session, { body, messages });
  }

  /**
   * Whether the session may serve a request now: waits for a move under way, then acts on the pin decision.
   * Resolves with why it ended (for the client's 404), or undefined when it goes on (it stayed, or moved).
   */
  private async judge(s: Session): Promise<string | undefined> {
    if (s.moving) await s.moving;
    if (!this.sessions.has(s.token)) return this.endedWhy.get(s.token) || 'the session ended';
    const d = this.decide(s);
    return d.action === 'stay' ? undefined : this.act(s, d);
  }

  /** The front saw the session's backend fail: the pin decision says why the session may not stay. */
  private observed(s: Session, what: Observed): void {
    if (s.moving) return;
    const d = this.decide(s, what);
    if (d.action !== 'stay') void this.act(s, d);
  }

  /**
   * Acts on a decision other than `stay`: a `move` under `onRollback: 'migrate'` moves the session live (one
   * move at a time); anything else ends it. Resolves with why it ended, or undefined once it moved.
   */
  private async act(s: Session, d: Exclude<PinDecision, { action: 'stay' }>): Promise<string | undefined> {
    if (d.action === 'move' && this.opts.onRollback === 'migrate') {
      s.moving ??= this.move(s, d).finally(() => (s.moving = undefined));
      const failed = await s.moving;
      if (failed === undefined) return undefined;
      await this.endSession(s, failed, d.reason);
      return failed;
    }
    await this.endSession(s, d.why, d.reason);
    return d.why;
  }

  /**
   * Moves a session to the version the weights choose now, keeping its id. Resolves with why it could not
   * (the session is then ended by the caller), or undefined. A bridged session's switch happens before the
   * first await: a bridge whose backend died closes right after saying so, and must find its front detached.
   */
  private move(s: Session, d: Exclude<PinDecision, { action: 'stay' }>): Promise<string | undefined> {
    const server = this.view.get(s.server);
    const record = server ? chooseByWeight(server.versions, this.draw()) : undefined;
    if (!record) return Promise.resolve(`${d.why}, and ${noVersionCarriesTraffic(s.server)}`);
    if ((s.front !== undefined) === (record.type === 'http')) {
      return Promise.resolve(`${d.why}; ${versionLabel(s.server, record.version)} (${record.type}) is served over another kind of backend than the session's, which it cannot move to live`);
    }
    return record.type === 'http' ? this.moveHttp(s, d, record as VersionRecord & { type: 'http' }) : this.moveBridged(s, d, record);
  }

  /** The list_changed notifications a session moving between two versions gets (see domain/list-changes.ts). */
  private async noticesAfterMove(server: string, from: { version: string; read?: () => Promise<Surface> }, to: { record: VersionRecord; read: () => Promise<Surface>; capabilities: unknown }): Promise<string[]> {
    if (from.version === to.record.version) return []; // the same version offers the same lists
    const before = this.view.get(server)?.versions.find((v) => v.version === from.version)?.contract;
    if (before && to.record.contract) return listChangedNotices(surfaceOfContract(before), surfaceOfContract(to.record.contract));
    if (!from.read) return noticesForCapabilities(to.capabilities);
    const [a, b] = await Promise.all([from.read(), to.read()]);
    return listChangedNotices(a, b);
  }

  private async moveHttp(s: Session, d: Exclude<PinDecision, { action: 'stay' }>, record: VersionRecord & { type: 'http' }): Promise<string | undefined> {
    const label = versionLabel(s.server, record.version);
    let ep: BackendEndpoint;
    let opened;
    const call = { timeoutMs: MOVE_TIMEOUT_MS, connectTimeoutMs: this.opts.connectTimeoutMs };
    try {
      ep = this.opts.backendOf?.(s.server, record) ?? record;
      // An adopted session's initialize is not known here (the id does not carry it): a minimal one stands in.
      const init = s.init ?? minimalInit(s.protocolVersion);
      opened = await openBackendSession(ep, init, call);
    } catch (e) {
      return `${d.why}; moving the session failed: ${label} ${(e as Error).message}`;
    }
    const pv = typeof opened.result.protocolVersion === 'string' ? opened.result.protocolVersion : s.protocolVersion;
    const at = (session: string | undefined, version: string | undefined) => ({ ...call, ...(session === undefined ? {} : { session }), ...(version === undefined ? {} : { protocolVersion: version }) });
    const old = { version: s.version, record: s.record, backendSession: s.backendSession, leg: s.leg, pv: s.protocolVersion };
    const oldAlive = d.reason !== SessionReason.BackendSessionGone && old.record !== undefined;
    const notices = await this.noticesAfterMove(s.server, { version: old.version, ...(oldAlive ? { read: () => readSurface(old.record!, at(old.backendSession, old.pv)) } : {}) }, { record, read: () => readSurface(ep, at(opened.session, pv)), capabilities: opened.result.capabilities });
    if (!this.sessions.has(s.token)) {
      // Ended (by its client, or the router closing) while it moved: the new backend session is not wanted.
      if (opened.session !== undefined) await endBackendSession(ep.url, ep.headers, opened.session);
      return this.endedWhy.get(s.token) || 'the session ended while it moved';
    }
    this.metrics.sessionLeft(s.server, old.version, d.reason);
    this.metrics.sessionEnded(s.server, old.version);
    s.version = record.version;
    s.record = ep;
    if (opened.session === undefined) delete s.backendSession;
    else s.backendSession = opened.session;
    if (pv !== undefined) s.protocolVersion = pv;
    s.startedAt = this.now();
    s.leg = { inflight: 0 };
    s.staleEventIds = true;
    this.metrics.sessionStarted(s.server, record.version);
    // The client's GET stream: the old backend's side of it stops, the notices go out, and it ends; the SDK
    // client opens it again (after its reconnection delay), on the new backend session.
    const l = s.listener;
    s.listener = undefined;
    if (l) {
      l.stop.abort();
      if (!l.res.headersSent) l.res.writeHead(200, SSE_HEADERS);
      // Two line breaks first: whatever the old backend's stream was in the middle of ends there.
      l.res.end(`\n\n${notices.map((method) => sseEvent({ jsonrpc: '2.0', method })).join('')}`);
    }
    // The old backend session ends once the requests still running on it are answered (a backend that forgot
    // it has nothing to end).
    if (oldAlive && old.backendSession !== undefined && old.leg) {
      const { url, headers } = old.record!;
      const sid = old.backendSession;
      this.whenDone(old.leg, () => void endBackendSession(url, headers, sid));
    }
    return undefined;
  }

  /** Runs `then` once no request is in flight on `leg`. */
  private whenDone(leg: Leg, then: () => void): void {
    if (leg.inflight === 0) then();
    else leg.left = then;
  }

  private moveBridged(s: Session, d: Exclude<PinDecision, { action: 'stay' }>, record: VersionRecord): Promise<string | undefined> {
    const room = this.makeRoom(s.server, record);
    if (typeof room === 'string') return Promise.resolve(`${d.why}; ${room}`);
    const label = versionLabel(s.server, record.version);
    // An adopted session has no bridge here yet: its backend is in another router, or was in this one's last run.
    const oldBridge = s.bridge;
    const oldLink = s.link;
    const from = { version: s.version, alive: d.reason !== SessionReason.BackendDied && oldLink !== undefined };
    oldLink?.detach();
    this.metrics.sessionLeft(s.server, s.version, d.reason);
    this.metrics.sessionEnded(s.server, s.version);
    s.version = record.version;
    s.startedAt = this.now();
    this.attachBridge(s, record, room);
    const link = s.link!;
    const read = (l: FrontLink) => async (): Promise<Surface> => {
      const answers = await Promise.all(LISTS.map(({ method }) => l.request(method, {}, MOVE_TIMEOUT_MS)));
      return Object.fromEntries(LISTS.map(({ list }, i) => [list, answers[i]?.result?.[list]]));
    };
    return (async () => {
      try {
        const init = s.init ? await link.request('initialize', s.init, MOVE_TIMEOUT_MS) : undefined;
        if (s.init && !init?.result) {
          return `${d.why}; moving the session failed: ${label} ${init?.error === undefined ? `did not answer the replayed initialize within ${MOVE_TIMEOUT_MS} ms` : `refused the replayed initialize: ${JSON.stringify(init.error)}`}`;
        }
        link.deliver({ jsonrpc: '2.0', method: 'notifications/initialized' });
        const notices = await this.noticesAfterMove(s.server, { version: from.version, ...(from.alive && oldLink ? { read: read(oldLink) } : {}) }, { record, read: read(link), capabilities: init?.result?.capabilities });
        for (const method of notices) link.notify(method);
        return undefined;
      } finally {
        if (oldBridge) this.retire(oldBridge);
      }
    })();
  }

  /** A bridge a session moved away from: it answers what it still owes through its detached link, then ends. */
  private retire(oldBridge: SessionBridge): void {
    this.retiring.add(oldBridge);
    const retire = (): void => void oldBridge.close().then(() => this.retiring.delete(oldBridge));
    if (oldBridge.inFlight === 0) retire();
    else oldBridge.onsettled = retire;
  }

  private async modern(req: IncomingMessage, res: ServerResponse, server: ServerState, body: Buffer, messages: JsonRpc[]): Promise<void> {
    const msg = messages[0]!;
    const live = (v: string | undefined) => (v === undefined ? undefined : server.versions.find((x) => x.version === v && x.status !== 'inactive'));
    const state = typeof msg.params?.requestState === 'string' ? `${server.name}\u0000${digest(msg.params.requestState)}` : undefined;
    const key = `${server.name}\u0000${stickinessKey(req, msg)}`;
    let record = live(state === undefined ? undefined : this.requestStates.get(state)) ?? live(this.sticky.get(key)) ?? chooseByWeight(server.versions, hashDraw(key));
    if (!record) return rpcError(res, 503, -32603, noVersionCarriesTraffic(server.name), msg.id ?? null);
    remember(this.sticky, key, record.version);
    if (record.type === 'stdio') return this.modernStdio(req, res, server, record, msg);
    if (record.type !== 'http') return this.legacyOnly(res, server, record, messages);
    const session: Session = { token: '', server: server.name, version: record.version, record: this.opts.backendOf?.(server.name, record) ?? record, startedAt: 0, lastUsed: 0 };
    const version = record.version;
    await this.exchange(req, res, session, { body, messages, onResult: (m) => {
      const rs = (m as JsonRpc).result;
      if (rs?.resultType === 'input_required' && typeof rs.requestState === 'string') remember(this.requestStates, `${server.name}\u0000${digest(rs.requestState)}`, version);
    } });
  }

  /**
   * A stateless request to a stdio version: the version's pooled process answers it. The answer is one JSON
   * message, or an SSE stream when the client asked for progress or listens for changes (and accepts streams):
   * the request's notifications as they come, then the answer (a `subscriptions/listen` stream lasts until the
   * client closes it). A client that goes away cancels the request at the backend.
   */
  private async modernStdio(req: IncomingMessage, res: ServerResponse, server: ServerState, record: VersionRecord & { type: 'stdio' }, msg: JsonRpc): Promise<void> {
    if (msg.id === undefined || msg.id === null || msg.method === undefined) {
      await this.pool.notify(server.name, record, msg);
      res.writeHead(202).end();
      return;
    }
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const listen = msg.method === LISTEN;
    const wantsProgress = (msg.params?._meta as { progressToken?: unknown } | undefined)?.progressToken !== undefined;
    const streams = (wantsProgress || listen) && (header(req, 'accept') ?? '').includes('text/event-stream');
    const onNotification = (m: unknown): void => {
      if (!res.headersSent) res.writeHead(200, SSE_HEADERS);
      res.write(sseEvent(m));
    };
    const t0 = performance.now();
    const answer = (await this.pool.request(server.name, record, msg as JsonRpc & { id: string | number }, { signal: gone.signal, longLived: listen, ...(streams ? { onNotification } : {}) })) as JsonRpc;
    if (gone.signal.aborted) return; // nobody to answer; not the version's failure either
    if (!listen) this.metrics.request(server.name, record.version, msg.method, performance.now() - t0, answerOutcome(msg.method, answer));
    const rs = answer.result;
    if (rs?.resultType === 'input_required' && typeof rs.requestState === 'string') remember(this.requestStates, `${server.name}\u0000${digest(rs.requestState)}`, record.version);
    if (res.headersSent) res.end(sseEvent(answer));
    else json(res, 200, answer);
  }

  /**
   * Forwards one request of a session (or a modern request) and counts what comes back. With `intercept`, the
   * result of a 404 not passed on says `intercepted`. Resolves
   * with the exchange's result, or undefined when it failed (the client has its error).
   */
  private async exchange(req: IncomingMessage, res: ServerResponse, s: Session, x: Exchange): Promise<ForwardResult | undefined> {
    // Counted on the backend session it goes to: a session that moves ends its old one after these.
    const leg = s.leg;
    if (leg) leg.inflight++;
    try {
      return await this.exchangeOn(req, res, s, x);
    } finally {
      if (leg && --leg.inflight === 0 && leg.left) {
        const left = leg.left;
        delete leg.left;
        left();
      }
    }
  }

  private async exchangeOn(req: IncomingMessage, res: ServerResponse, s: Session, x: Exchange): Promise<ForwardResult | undefined> {
    const { body, messages, withHeaders = () => ({}), onResult, intercept = false } = x;
    const backend = s.record!;
    // The version it went to, whatever the session moves to meanwhile: answers and errors name this one.
    const version = s.version;
    let clientHeaders = req.headers;
    let stop: AbortController | undefined;
    if (req.method === 'GET' && s.token !== '') {
      const listener = { res, stop: (stop = new AbortController()) };
      s.listener = listener;
      res.on('close', () => s.listener === listener && delete s.listener);
      if (s.staleEventIds) {
        s.staleEventIds = false;
        clientHeaders = { ...req.headers };
        delete clientHeaders['last-event-id'];
      }
    }
    // The requests of this POST. No deadline here: `forward` times the whole exchange. The error replies of a
    // failed exchange are collected, not sent: the catch below writes them as the response allows.
    const failed: ErrorReply[] = [];
    const pending = new RequestLedger(s.server, {
      book: (b) => this.metrics.request(s.server, b.version, b.method, b.latencyMs, b.outcome),
      reply: (error) => {
        failed.push(error);
      },
    });
    // A subscriptions/listen stream is not a request to time: it lasts until the client closes it.
    for (const m of messages) if (m.method !== undefined && m.method !== LISTEN && m.id !== undefined && m.id !== null) pending.open(m.id, m.method, { version, context: undefined });
    const asked = pending.inFlight > 0;
    let streaming = false; // the backend answers with an SSE stream
    const onMessage = (m: unknown): void => {
      if (pending.settle(m as JsonRpc)) onResult?.(m);
    };
    let outcome;
    try {
      outcome = await forward(
        {
          url: backend.url,
          // A request unanswered by the deadline fails (listen streams and the GET stream have none).
          ...(asked ? { timeoutMs: this.opts.requestTimeoutMs } : {}),
          connectTimeoutMs: this.opts.connectTimeoutMs,
          method: req.method as 'POST' | 'GET' | 'DELETE',
          clientHeaders,
          headers: backend.headers,
          ...(req.method === 'POST' && messages.length === 1 ? { mcpHeaders: mcpRequestHeaders(messages[0]) } : {}),
          ...(s.backendSession === undefined ? {} : { backendSession: s.backendSession }),
          ...(body === undefined ? {} : { body }),
          forwardAuthorization: this.opts.token === undefined,
          ...(stop ? { stop: stop.signal } : {}),
          ...(intercept && req.method !== 'DELETE' && s.backendSession !== undefined ? { intercept: (r: ForwardResult) => r.status === 404 } : {}),
        },
        res,
        (r) => {
          streaming = r.contentType?.includes('text/event-stream') === true;
          return withHeaders(r);
        },
        onMessage,
        () => asked && pending.inFlight === 0,
      );
    } catch (e) {
      const message = e instanceof TimeoutError
        ? didNotAnswer(s.server, version, e.timeoutMs)
        : res.headersSent
          ? brokeOff(s.server, version, (e as Error).message)
          : e instanceof MalformedAnswerError
            ? malformedAnswer(s.server, version, e.message)
            : unreachable(s.server, version, backend.url, (e as Error).message);
      pending.failAll(message); // booked as transport failures; their error replies land in `failed`
      if (res.headersSent) {
        // Mid-stream: an SSE answer can still carry the errors; anything else can only be cut.
        if (!streaming || res.writableEnded) return void res.destroy();
        for (const error of failed) res.write(sseEvent(error));
        return void res.end();
      }
      if (failed.length === 0) return void rpcError(res, 502, -32603, message, null);
      return void json(res, 200, Array.isArray(messages) && messages.length > 1 ? failed : failed[0]);
    }
    // The client left: what it did not wait for is nobody's failure. Otherwise requests whose answer never came
    // (the stream ended first) count as failures of the version.
    // Intercepted: the backend did not serve it. Detached: the session moved, its GET stream is the mover's.
    if (outcome.clientGone || outcome.intercepted || outcome.detached) return outcome;
    pending.abandonAll({ transportFailure: true });
    return outcome;
  }

  /**
   * A 2026-07-28 request to an sse version (a legacy-only server by its transport): answered as such a server
   * answers it, 400 "Server not initialized", so a dual-era client falls back to initialize (a bridged session).
   */
  private legacyOnly(res: ServerResponse, server: ServerState, record: VersionRecord, messages: JsonRpc[]): void {
    return rpcError(res, 400, -32000, `Bad Request: Server not initialized (server "${server.name}" version ${record.version} speaks the legacy HTTP+SSE transport: start a session with initialize)`, messages[0]?.id ?? null);
  }

  private dropSession(s: Session): void {
    if (this.sessions.delete(s.token)) this.metrics.sessionEnded(s.server, s.version);
  }

  /**
   * Ends a session and its backend session or process; resolves once a process has exited. `why` (the router
   * ends it, not the client) is kept for the 404 its client gets next, and given to requests still open;
   * `reason`, its code, is counted once on /metrics.
   */
  private async endSession(s: Session, why?: string, reason?: SessionReason): Promise<void> {
    if (why !== undefined && this.sessions.has(s.token)) {
      remember(this.endedWhy, s.token, why);
      if (reason !== undefined) this.metrics.sessionLeft(s.server, s.version, reason);
    }
    this.dropSession(s);
    if (s.bridge) await s.bridge.close(why === undefined ? undefined : `${why}; initialize a new session`);
    else if (s.backendSession !== undefined && s.record) await endBackendSession(s.record.url, s.record.headers, s.backendSession).catch(() => undefined);
  }

  private sweepIdle(): void {
    const now = this.now();
    // (Sessions of rolled-back or removed versions are ended by onRegistryChange, the moment it is seen.)
    for (const s of this.sessions.values()) {
      const d = this.decide(s, {}, true);
      if (d.action === 'stay') continue;
      // A session on an HTTP backend that is only idle is forgotten, not ended: another router may be carrying
      // it (its id opens there), and the backend's own expiry governs its backend session. Its next request
      // here takes it on again.
      if (d.reason === SessionReason.IdleTimeout && !s.bridge) this.dropSession(s);
      else void this.endSession(s, d.why, d.reason);
    }
    const idleMs = this.opts.processIdleTimeoutMs;
    const holders = [...this.sessions.values()].filter((s) => s.process).map((s) => this.holder(s));
    for (const { session } of idleExpired(holders, now, idleMs)) {
      void this.endSession(session, `the session was idle for ${idleMs / 1000} s (--process-idle-timeout): its backend process was ended`, SessionReason.ProcessIdleTimeout);
    }
    // Pooled processes of versions no longer active stay warm for the rollback window, then go.
    for (const key of this.pool.running()) {
      const [server, version] = key.split('\u0000') as [string, string];
      const active = this.view.get(server)?.versions.some((v) => v.version === version && v.status !== 'inactive');
      if (active) this.retiredAt.delete(key);
      else if (!this.retiredAt.has(key)) this.retiredAt.set(key, now);
      else if (now - this.retiredAt.get(key)! >= this.opts.rollbackWindowMs) {
        this.retiredAt.delete(key);
        void this.pool.stop(key);
      }
    }
  }
}

/** A request of the stateless revision: the version header, or the modern `_meta` in its params. */
function isModern(req: IncomingMessage, messages: JsonRpc[]): boolean {
  if (header(req, 'mcp-protocol-version') === MODERN) return true;
  const meta = messages[0]?.params?._meta as Record<string, unknown> | undefined;
  return typeof meta?.['io.modelcontextprotocol/protocolVersion'] === 'string';
}

/** Who the client is, for stickiness: a routing header, the client identity in `_meta`, a hash of its credentials. */
export function stickinessKey(req: IncomingMessage, msg: JsonRpc): string {
  const explicit = header(req, 'mcp-rollout-client');
  if (explicit) return `h:${explicit}`;
  const info = (msg.params?._meta as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/clientInfo'] as { name?: unknown; version?: unknown } | undefined;
  if (info && typeof info.name === 'string') return `m:${info.name}@${String(info.version ?? '')}`;
  const auth = header(req, 'authorization');
  if (auth) return `a:${digest(auth)}`;
  return `r:${req.socket.remoteAddress ?? ''}`;
}

function remember(map: Map<string, string>, key: string, value: string): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > 10_000) map.delete(map.keys().next().value!);
}

/**
 * The initialize replayed for a session taken on from its id alone (the id does not carry the client's
 * params): the protocol version the client speaks (its MCP-Protocol-Version header; 2025-06-18 without one),
 * no capabilities.
 */
function minimalInit(protocolVersion: string | undefined): Record<string, unknown> {
  return { protocolVersion: protocolVersion ?? '2025-06-18', capabilities: {}, clientInfo: { name: 'mcp-rollout (adopted session)', version: '1' } };
}

const digest = (s: string): string => createHash('sha256').update(s).digest('base64url');

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * Reads a request body of at most `limit` bytes and calls `done` once: with the body as soon as its last byte is
 * in (the Content-Length is reached, before the stream's end event), or with undefined when it is over the
 * limit (the rest is drained). `fail` gets a stream error.
 */
function readBody(req: IncomingMessage, limit: number, done: (body: Buffer | undefined) => void, fail: (e: Error) => void): void {
  const expected = Number(req.headers['content-length']);
  const parts: Buffer[] = [];
  let size = 0;
  let called = false;
  const finish = (body: Buffer | undefined): void => {
    if (called) return;
    called = true;
    done(body);
  };
  req.on('data', (c: Buffer) => {
    if (called) return;
    size += c.length;
    if (size > limit) {
      req.resume();
      return finish(undefined);
    }
    parts.push(c);
    if (size === expected) finish(parts.length === 1 ? parts[0] : Buffer.concat(parts));
  });
  req.on('end', () => finish(size > limit ? undefined : Buffer.concat(parts)));
  req.on('error', (e) => {
    if (called) return;
    called = true;
    fail(e);
  });
  // A stream not yet read hands its first chunk to 'data' listeners a tick late. read(0) consumes nothing and
  // makes the body reach `done` as the HTTP parser sees it: in the same turn as the request's headers.
  req.read(0);
}
