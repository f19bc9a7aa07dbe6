/**
 * The long-running HTTP router: `/mcp/<name>` for every registered server, splitting client sessions between
 * versions by the registry's weights, pinning each session to its version, forwarding the MCP protocol.
 * - Legacy era (initialize): the version is chosen when the session starts; the router issues its own sealed
 *   `Mcp-Session-Id` bound to the version and the backend's session; later POST, GET and DELETE reach it.
 * - Modern era (2026-07-28, no session): each request is routed, but one client stays on one version (a
 *   stickiness key) and an `input_required` retry returns to the version that asked.
 * - Live changes: new sessions follow the current weights; existing ones stay (`onPromote: 'drain'`, the
 *   default; `move` ends them at a promotion); after a rollback or removal a session pinned to that version
 *   gets 404 and re-initialises onto a good version. What a pinned session does is domain/pin-decision.ts,
 *   shared with the stdio proxy; where it says `move`, the router ends the session (HTTP sessions do not yet
 *   move live) with the same reason code.
 * Backends: Streamable HTTP versions (forwarded); stdio versions get a process per legacy session, and one
 * pooled process per version for stateless requests. Session processes are bounded: at most
 * `maxProcessesPerVersion` per version (the least recently used idle session gives way), ended after
 * `processIdleTimeoutMs` idle, and ended the moment their version is rolled back or removed.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decidePin, type Observed, type PinDecision, type PromotionPolicy } from '../domain/pin-decision.js';
import { SessionReason } from '../domain/reasons.js';
import { chooseByWeight, hashDraw } from '../domain/weighted-choice.js';
import type { ServerState, VersionRecord } from '../domain/types.js';
import { brokeOff, didNotAnswer, malformedAnswer, noVersionCarriesTraffic, unreachable } from '../protocol/router-errors.js';
import type { LiveView } from '../registry/live-view.js';
import { checkRequest, type GuardOptions } from './guard.js';
import { json, plain, rpcError, SSE_HEADERS, sseEvent } from './replies.js';
import { SessionKeys } from './session-keys.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { answerOutcome } from '../sessions/request-ledger.js';
import { SessionBridge } from './session-bridge.js';
import { StreamableFront } from './streamable-front.js';
import { StdioPool } from './stdio-pool.js';
import { Lifeline } from '../upstream/lifeline.js';
import type { StdioOptions } from '../upstream/stdio-upstream.js';
import { endBackendSession, forward, TimeoutError } from './upstream-http.js';
import { closeIdleBackendConnections, CONNECT_TIMEOUT_MS, MalformedAnswerError } from './backend-client.js';
import { mcpRequestHeaders } from '../protocol/modern-headers.js';
import { processMetrics } from '../telemetry/process-metrics.js';
import { admitProcess, idleExpired } from './process-budget.js';
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
   * Where an http version's requests go (default: its stored URL and headers). Serve resolves managed versions
   * to their running server here (managed/managed-fleet.ts); a version with no server answering throws.
   */
  backendOf?: (server: string, record: VersionRecord & { type: 'http' | 'sse' }) => { url: string; headers: Record<string, string> };
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
};

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
  startedAt: number;
  lastUsed: number;
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
  private readonly pool: StdioPool;
  /** Ends every stdio backend's process group if the router dies without doing so (SIGKILL, a crash). */
  private readonly lifeline = new Lifeline();
  private readonly stdioOptions: StdioOptions;
  private readonly sessions = new Map<string, Session>();
  private readonly sticky = new Map<string, string>(); // server + client key -> version
  private readonly requestStates = new Map<string, string>(); // server + requestState hash -> version
  private readonly retiredAt = new Map<string, number>(); // server + version -> when it stopped being active
  private readonly endedWhy = new Map<string, string>(); // session token -> why the router ended it
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
    await this.pool.close();
    closeIdleBackendConnections();
    this.lifeline.close();
    this.http.closeAllConnections();
    await closed;
  }

  private onRegistryChange(): void {
    // Sessions the pin decision no longer lets stay (rolled back, removed, promoted away under `move`) can only
    // ever get 404: their backends go now, not at the session's next request (a client that never sends one
    // would keep its process to the idle timeout).
    for (const s of this.sessions.values()) {
      const d = this.decide(s);
      if (d.action !== 'stay') void this.endSession(s, d.why, d.reason);
    }
  }

  /**
   * The pin decision for a session now. `idle`: the idle timeout counts too (the sweep; a request that has
   * just arrived is not judged idle). Until HTTP sessions move live, `move` means the session ends.
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
    const session: Session = { token: '', server: server.name, version: record.version, record: this.opts.backendOf?.(server.name, record) ?? record, startedAt: started, lastUsed: started };
    await this.exchange(req, res, session, body, messages, (r): Record<string, string> => {
      if (r.status >= 300) return {};
      if (r.backendSession !== undefined) session.backendSession = r.backendSession;
      session.token = this.keys.seal({ server: server.name, version: record.version, startedAt: started, ...(r.backendSession === undefined ? {} : { backendSession: r.backendSession }) });
      this.sessions.set(session.token, session);
      this.metrics.sessionStarted(server.name, record.version);
      return { 'mcp-session-id': session.token };
    });
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
    session.front = front;
    const bridge = new SessionBridge(session.server, record, front, this.metrics, () => this.dropSession(session), this.stdioOptions, this.opts.requestTimeoutMs, room);
    bridge.onsettled = () => (session.lastUsed = this.now());
    bridge.ondied = (reason) => this.observed(session, { backendDied: reason });
    if (record.type === 'stdio') session.process = true;
    session.bridge = bridge;
    if (front instanceof StreamableFront) front.onbacklog = (full) => bridge.backlog(full);
    this.sessions.set(session.token, session);
    this.metrics.sessionStarted(session.server, record.version);
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
    const d = this.decide(session);
    if (d.action !== 'stay') {
      await this.endSession(session, d.why, d.reason);
      return plain(res, 404, `Session not found: ${d.why}; connect again`);
    }
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
    const session = this.sessions.get(sid) ?? (why === undefined ? await this.adopt(sid, server) : undefined);
    if (typeof session === 'string' || !session || session.server !== server.name) {
      const reason = typeof session === 'string' ? session : why;
      return rpcError(res, 404, -32001, `Session not found: ${reason ? `${reason}; ` : ''}initialize a new session`, id);
    }
    return this.inOpenSession(req, res, session, body, messages, id);
  }

  /**
   * A session id this router does not hold but the key ring opens: sealed by this router before a restart or
   * by another router of the store. A session on an HTTP backend is taken on (its backend session id is in
   * the claims) and carries on here; one whose backend process lived in a router is gone with that router
   * (a string saying so). Undefined for an id that does not open, or names another server.
   */
  private async adopt(sid: string, server: ServerState): Promise<Session | string | undefined> {
    const claims = await this.keys.open(sid);
    if (!claims || claims.server !== server.name) return undefined;
    const held = this.sessions.get(sid); // taken on by a request that opened it while this one waited
    if (held) return held;
    const record = server.versions.find((v) => v.version === claims.version);
    if (record?.type !== 'http') {
      if (!record) return `version ${claims.version} of "${server.name}" was removed`;
      // Ended here (or before this router's restart on the same address): nothing more to say than before.
      if (claims.owner === undefined || claims.owner === this.address) return undefined;
      return `its backend process is in the router at ${claims.owner}, and sessions are not forwarded between routers yet`;
    }
    const session: Session = { token: sid, server: server.name, version: record.version, record, startedAt: claims.startedAt, lastUsed: this.now() };
    if (claims.backendSession !== undefined) session.backendSession = claims.backendSession;
    this.sessions.set(sid, session);
    this.metrics.sessionStarted(server.name, record.version);
    return session;
  }

  private async inOpenSession(req: IncomingMessage, res: ServerResponse, session: Session, body: Buffer | undefined, messages: JsonRpc[], id: string | number | null): Promise<void> {
    const d = this.decide(session);
    if (d.action !== 'stay') {
      await this.endSession(session, d.why, d.reason);
      return rpcError(res, 404, -32001, `Session not found: ${d.why}; initialize a new session`, id);
    }
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
      return this.exchange(req, res, session, undefined, [], () => ({}));
    }
    return this.exchange(req, res, session, body, messages, (r) => {
      // The backend forgot the session (it restarted): its 404 goes to the client, and the session ends here.
      if (r.status === 404 && session.backendSession !== undefined) this.observed(session, { backendSessionGone: true });
      return {};
    });
  }

  /** The front saw the session's backend fail: the pin decision says why the session may not stay. */
  private observed(s: Session, what: Observed): void {
    const d = this.decide(s, what);
    if (d.action !== 'stay') void this.endSession(s, d.why, d.reason);
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
    await this.exchange(req, res, session, body, messages, () => ({}), (m) => {
      const rs = (m as JsonRpc).result;
      if (rs?.resultType === 'input_required' && typeof rs.requestState === 'string') remember(this.requestStates, `${server.name}\u0000${digest(rs.requestState)}`, version);
    });
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

  /** Forwards one request of a session (or a modern request) and counts what comes back. */
  private async exchange(
    req: IncomingMessage,
    res: ServerResponse,
    s: Session,
    body: Buffer | undefined,
    messages: JsonRpc[],
    withHeaders: Parameters<typeof forward>[2],
    onResult?: (m: unknown) => void,
  ): Promise<void> {
    const t0 = performance.now();
    const backend = s.record!;
    const pending = new Map<string, string>(); // JSON-RPC id -> method, for the requests in this POST
    // A subscriptions/listen stream is not a request to time: it lasts until the client closes it.
    for (const m of messages) if (m.method !== undefined && m.method !== LISTEN && m.id !== undefined && m.id !== null) pending.set(JSON.stringify(m.id), m.method);
    const asked = pending.size > 0;
    let streaming = false; // the backend answers with an SSE stream
    const onMessage = (raw: unknown): void => {
      const m = raw as JsonRpc;
      if (m.id === undefined || m.id === null || m.method !== undefined) return;
      const key = JSON.stringify(m.id);
      const method = pending.get(key);
      if (method === undefined) return;
      pending.delete(key);
      this.metrics.request(s.server, s.version, method, performance.now() - t0, answerOutcome(method, m));
      onResult?.(m);
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
          clientHeaders: req.headers,
          headers: backend.headers,
          ...(req.method === 'POST' && messages.length === 1 ? { mcpHeaders: mcpRequestHeaders(messages[0]) } : {}),
          ...(s.backendSession === undefined ? {} : { backendSession: s.backendSession }),
          ...(body === undefined ? {} : { body }),
          forwardAuthorization: this.opts.token === undefined,
        },
        res,
        (r) => {
          streaming = r.contentType?.includes('text/event-stream') === true;
          return withHeaders(r);
        },
        onMessage,
        () => asked && pending.size === 0,
      );
    } catch (e) {
      for (const method of pending.values()) this.metrics.request(s.server, s.version, method, performance.now() - t0, { transportFailure: true });
      const ids = [...pending.keys()].map((k) => JSON.parse(k) as string | number);
      pending.clear();
      const message = e instanceof TimeoutError
        ? didNotAnswer(s.server, s.version, e.timeoutMs)
        : res.headersSent
          ? brokeOff(s.server, s.version, (e as Error).message)
          : e instanceof MalformedAnswerError
            ? malformedAnswer(s.server, s.version, e.message)
            : unreachable(s.server, s.version, backend.url, (e as Error).message);
      if (res.headersSent) {
        // Mid-stream: an SSE answer can still carry the errors; anything else can only be cut.
        if (!streaming || res.writableEnded) return void res.destroy();
        for (const id of ids) res.write(sseEvent({ jsonrpc: '2.0', id, error: { code: -32603, message } }));
        return void res.end();
      }
      if (ids.length === 0) return rpcError(res, 502, -32603, message, null);
      const errors = ids.map((id) => ({ jsonrpc: '2.0', id, error: { code: -32603, message } }));
      return json(res, 200, Array.isArray(messages) && messages.length > 1 ? errors : errors[0]);
    }
    // The client left: what it did not wait for is nobody's failure. Otherwise requests whose answer never came
    // (the stream ended first) count as failures of the version.
    if (outcome.clientGone) return;
    for (const method of pending.values()) this.metrics.request(s.server, s.version, method, performance.now() - t0, { transportFailure: true });
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
