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
 *
 * This file is the wiring: it listens, routes paths, reads and parses a POST, and hands it on. The sessions
 * are sessions/ (the table, the HTTP exchange, the bridges, migration, adoption) and session-requests.ts; the
 * stateless path is stateless-requests.ts.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SessionReason } from '../domain/reasons.js';
import type { ServerState } from '../domain/types.js';
import type { LiveView } from '../registry/live-view.js';
import { checkRequest } from '../fronts/guard.js';
import { json, plain, rpcError } from '../fronts/replies.js';
import { header, readBody } from '../fronts/request-body.js';
import { Lifeline } from '../backends/lifeline.js';
import { closeIdleBackendConnections } from '../backends/backend-client.js';
import type { JsonRpc } from '../sessions/http-session.js';
import { HttpExchange } from '../sessions/http-exchange.js';
import { SessionAdoption } from '../sessions/session-adoption.js';
import { SessionBridges } from '../sessions/session-bridges.js';
import { SessionKeys } from '../sessions/session-keys.js';
import { SessionMigration } from '../sessions/session-migration.js';
import { SessionTable } from '../sessions/session-table.js';
import { processMetrics } from '../telemetry/process-metrics.js';
import { VersionMetrics } from '../telemetry/version-metrics.js';
import { DEFAULT_ROUTER_OPTIONS, type HttpRouterOptions } from './router-options.js';
import { SessionRequests } from './session-requests.js';
import { isModern, StatelessRequests } from './stateless-requests.js';

export { DEFAULT_ROUTER_OPTIONS, ROLLBACK_POLICIES, type HttpRouterOptions, type RollbackPolicy } from './router-options.js';

export class HttpRouter {
  readonly metrics = new VersionMetrics();
  /** Seals and opens session ids with the key ring shared through the store (any router opens any id). */
  private readonly keys: SessionKeys;
  /** `http://host:port`, sealed into the ids of sessions whose backend process lives in this router. */
  private address = '';
  /** Ends every stdio backend's process group if the router dies without doing so (SIGKILL, a crash). */
  private readonly lifeline = new Lifeline();
  private readonly table = new SessionTable(this.metrics);
  private readonly migration: SessionMigration;
  private readonly sessions: SessionRequests;
  private readonly stateless: StatelessRequests;
  private readonly http: http.Server;
  private inflight = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private snapshotter: NodeJS.Timeout | undefined;
  private closing = false;
  private unwatchEnds: (() => void) | undefined;

  constructor(
    private readonly view: LiveView,
    private readonly opts: HttpRouterOptions = DEFAULT_ROUTER_OPTIONS,
    private readonly now: () => number = Date.now,
    /** Draws in [0, 1) for choosing a new session's version (seedable in tests). */
    draw: () => number = Math.random,
  ) {
    const { metrics, table } = this;
    this.keys = new SessionKeys(view.store);
    const stdioOptions = { maxMessageBytes: opts.maxBodyBytes, lifeline: this.lifeline };
    const exchange = new HttpExchange(metrics, { requestTimeoutMs: opts.requestTimeoutMs, connectTimeoutMs: opts.connectTimeoutMs, forwardAuthorization: opts.token === undefined });
    const bridges = new SessionBridges({ table, metrics, stdioOptions, requestTimeoutMs: opts.requestTimeoutMs, now, died: (s, reason) => this.migration.observed(s, { backendDied: reason }) });
    this.migration = new SessionMigration({ view, table, bridges, metrics, now, draw }, opts);
    const address = (): string => this.address;
    const adoption = new SessionAdoption({ keys: this.keys, table, bridges, migration: this.migration, metrics, now, onRollback: opts.onRollback, address, bornAt: now() });
    this.sessions = new SessionRequests({ table, keys: this.keys, bridges, migration: this.migration, adoption, exchange, metrics, now, draw, address }, opts);
    this.stateless = new StatelessRequests(view, metrics, exchange, opts, stdioOptions);
    this.http = http.createServer((req, res) => void this.handle(req, res));
    this.http.keepAliveTimeout = 30_000;
    view.on('change', () => this.onRegistryChange());
    this.onRegistryChange();
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    await this.keys.start();
    // A client's DELETE reaching any router of a store that shares session ends ends the session on all of them.
    const { store } = this.view;
    if (store.publishSessionEnd && store.watchSessionEnds) {
      // Best effort: a notice that cannot be sent leaves the others to their idle timeout, as on the file store.
      this.table.shareEnds((digest) => void store.publishSessionEnd!(digest).catch(() => undefined));
      this.unwatchEnds = store.watchSessionEnds((digest) => this.table.endedElsewhere(digest));
    }
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
    return this.stateless.pooledVersions();
  }

  /** Open sessions per server and version (for status and tests). */
  sessionCounts(): Record<string, Record<string, number>> {
    return this.table.counts();
  }

  /** Sessions whose client holds its GET stream open now (for tests: a moved session's notices go there). */
  openStreams(): number {
    return this.table.openStreams();
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
    this.unwatchEnds?.();
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    const until = Date.now() + deadlineMs;
    while (this.inflight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await this.table.closeAll();
    await this.stateless.close();
    closeIdleBackendConnections();
    this.lifeline.close();
    this.http.closeAllConnections();
    await closed;
  }

  private onRegistryChange(): void {
    // Sessions the pin decision no longer lets stay (rolled back, removed, promoted away under `move`) move or
    // end now, not at their next request: a client that never sends one would keep its process to the idle
    // timeout, and a moved client hears of the new lists at once.
    for (const s of this.table.values()) this.migration.observed(s);
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
        if (m[3] && req.method === 'POST') return this.sessions.sseMessage(req, res, server);
        if (!m[3] && req.method === 'GET') return this.sessions.startSse(res, server);
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
      return this.sessions.inSession(req, res, server, sid, undefined, []);
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
    if (sid !== undefined) return this.sessions.inSession(req, res, server, sid, body, messages);
    if (messages.some((x) => x.method === 'initialize')) return this.sessions.start(req, res, server, body, messages);
    if (isModern(req, messages)) return this.stateless.handle(req, res, server, body, messages);
    return rpcError(res, 400, -32000, 'Bad Request: no Mcp-Session-Id; start with initialize', messages[0]?.id ?? null);
  }

  private sweepIdle(): void {
    const now = this.now();
    // (Sessions of rolled-back or removed versions are ended by onRegistryChange, the moment it is seen.)
    for (const s of this.table.values()) {
      const d = this.migration.decide(s, {}, true);
      if (d.action === 'stay') continue;
      // A session on an HTTP backend that is only idle is forgotten, not ended: another router may be carrying
      // it (its id opens there), and the backend's own expiry governs its backend session. Its next request
      // here takes it on again.
      if (d.reason === SessionReason.IdleTimeout && !s.bridge) this.table.drop(s);
      else void this.table.end(s, d.why, d.reason);
    }
    this.table.endIdleProcesses(now, this.opts.processIdleTimeoutMs);
    this.stateless.sweep(now);
  }
}
