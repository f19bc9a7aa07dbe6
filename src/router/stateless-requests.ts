/**
 * The HTTP router's stateless path (protocol revision 2026-07-28, no session): each request is routed by the
 * weights, but one client stays on one version (a stickiness key) and an `input_required` retry returns to
 * the version that asked. Streamable HTTP versions are forwarded; a stdio version's requests go to its one
 * pooled process, which stays warm for the rollback window after the version stops carrying traffic.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerState, VersionRecord } from '../domain/types.js';
import { chooseByWeight, hashDraw } from '../domain/weighted-choice.js';
import { noVersionCarriesTraffic } from '../protocol/router-errors.js';
import { json, rpcError, SSE_HEADERS, sseEvent } from '../fronts/replies.js';
import { header } from '../fronts/request-body.js';
import { StdioPool } from '../backends/stdio-pool.js';
import type { StdioOptions } from '../backends/stdio-upstream.js';
import type { LiveView } from '../registry/live-view.js';
import { LISTEN, type HttpExchange } from '../sessions/http-exchange.js';
import { remember, type BackendOf, type JsonRpc, type Session } from '../sessions/http-session.js';
import { answerOutcome } from '../sessions/request-ledger.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';

const MODERN = '2026-07-28';

export interface StatelessOptions {
  /** How long a version's pooled process stays warm after the version stops carrying traffic, ms. */
  rollbackWindowMs: number;
  /** A request unanswered this long fails, ms. */
  requestTimeoutMs: number;
  backendOf?: BackendOf | undefined;
}

export class StatelessRequests {
  private readonly pool: StdioPool;
  private readonly sticky = new Map<string, string>(); // server + client key -> version
  private readonly requestStates = new Map<string, string>(); // server + requestState hash -> version
  private readonly retiredAt = new Map<string, number>(); // server + version -> when it stopped being active

  constructor(
    private readonly view: LiveView,
    private readonly metrics: VersionMetrics,
    private readonly exchange: HttpExchange,
    private readonly opts: StatelessOptions,
    stdioOptions: StdioOptions,
  ) {
    this.pool = new StdioPool(metrics, stdioOptions, opts.requestTimeoutMs);
  }

  /** Versions with a warm pooled process, as `server@version`. */
  pooledVersions(): string[] {
    return this.pool.running().map((k) => k.replace('\u0000', '@')).sort();
  }

  /** Stops every pooled process. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** One stateless request (or notification): to the version its client is stuck to, or the weights choose. */
  async handle(req: IncomingMessage, res: ServerResponse, server: ServerState, body: Buffer, messages: JsonRpc[]): Promise<void> {
    const msg = messages[0]!;
    const live = (v: string | undefined) => (v === undefined ? undefined : server.versions.find((x) => x.version === v && x.status !== 'inactive'));
    const state = typeof msg.params?.requestState === 'string' ? `${server.name}\u0000${digest(msg.params.requestState)}` : undefined;
    const key = `${server.name}\u0000${stickinessKey(req, msg)}`;
    let record = live(state === undefined ? undefined : this.requestStates.get(state)) ?? live(this.sticky.get(key)) ?? chooseByWeight(server.versions, hashDraw(key));
    if (!record) return rpcError(res, 503, -32603, noVersionCarriesTraffic(server.name), msg.id ?? null);
    remember(this.sticky, key, record.version);
    if (record.type === 'stdio') return this.stdio(req, res, server, record, msg);
    if (record.type !== 'http') return legacyOnly(res, server, record, messages);
    const session: Session = { token: '', server: server.name, version: record.version, record: this.opts.backendOf?.(server.name, record) ?? record, startedAt: 0, lastUsed: 0 };
    const version = record.version;
    await this.exchange.exchange(req, res, session, { body, messages, onResult: (m) => this.keepState(server.name, version, m as JsonRpc) });
  }

  /**
   * A stateless request to a stdio version: the version's pooled process answers it. The answer is one JSON
   * message, or an SSE stream when the client asked for progress or listens for changes (and accepts streams):
   * the request's notifications as they come, then the answer (a `subscriptions/listen` stream lasts until the
   * client closes it). A client that goes away cancels the request at the backend.
   */
  private async stdio(req: IncomingMessage, res: ServerResponse, server: ServerState, record: VersionRecord & { type: 'stdio' }, msg: JsonRpc): Promise<void> {
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
    this.keepState(server.name, record.version, answer);
    if (res.headersSent) res.end(sseEvent(answer));
    else json(res, 200, answer);
  }

  /** An `input_required` answer: its retry (carrying the request state) returns to the version that asked. */
  private keepState(server: string, version: string, answer: JsonRpc): void {
    const rs = answer.result;
    if (rs?.resultType === 'input_required' && typeof rs.requestState === 'string') remember(this.requestStates, `${server}\u0000${digest(rs.requestState)}`, version);
  }

  /** Pooled processes of versions no longer active stay warm for the rollback window, then go. */
  sweep(now: number): void {
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
export function isModern(req: IncomingMessage, messages: JsonRpc[]): boolean {
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

/**
 * A 2026-07-28 request to an sse version (a legacy-only server by its transport): answered as such a server
 * answers it, 400 "Server not initialized", so a dual-era client falls back to initialize (a bridged session).
 */
function legacyOnly(res: ServerResponse, server: ServerState, record: VersionRecord, messages: JsonRpc[]): void {
  return rpcError(res, 400, -32000, `Bad Request: Server not initialized (server "${server.name}" version ${record.version} speaks the legacy HTTP+SSE transport: start a session with initialize)`, messages[0]?.id ?? null);
}

const digest = (s: string): string => createHash('sha256').update(s).digest('base64url');
