/**
 * The HTTP router's sessions (the legacy era: initialize, then requests carrying `Mcp-Session-Id`): starting
 * one on the version the weights choose (forwarded to a Streamable HTTP version, or bridged to a stdio
 * version's process or an sse version's connection), and serving its later POST, GET and DELETE once its pin
 * decision lets it go on. Also the legacy HTTP+SSE transport's sessions (`/sse/<name>`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { ServerState, VersionRecord } from '../domain/types.js';
import { chooseByWeight } from '../domain/weighted-choice.js';
import { noVersionCarriesTraffic } from '../protocol/router-errors.js';
import { refusesSession } from '../protocol/session-refusal.js';
import { plain, rpcError } from '../fronts/replies.js';
import { header, readBody } from '../fronts/request-body.js';
import { StreamableFront } from '../fronts/streamable-front.js';
import type { ForwardResult } from '../backends/http-forward.js';
import { NO_HEADERS, type HttpExchange } from '../sessions/http-exchange.js';
import type { JsonRpc, Session } from '../sessions/http-session.js';
import type { SessionAdoption } from '../sessions/session-adoption.js';
import type { SessionKeys } from '../sessions/session-keys.js';
import type { MigrationDeps, SessionMigration } from '../sessions/session-migration.js';
import { claim } from '../sessions/sse-polling.js';
import type { HttpRouterOptions } from './router-options.js';

/** The core a session's requests go through: what migration has (but the registry), and what it adds. */
export interface SessionRequestDeps extends Omit<MigrationDeps, 'view'> {
  keys: SessionKeys;
  migration: SessionMigration;
  adoption: SessionAdoption;
  exchange: HttpExchange;
  /** This router's address, sealed into the ids of sessions whose backend process it runs. */
  address: () => string;
}

type Options = Pick<HttpRouterOptions, 'maxSessionsPerServer' | 'maxProcessesPerVersion' | 'maxBodyBytes' | 'onRollback' | 'backendOf'>;

export class SessionRequests {
  /**
   * Whether a backend's answer (not 2xx) refuses the session without serving the request: the backend forgot the
   * session (it restarted): it answers 404, or 400 naming the session (the SDK's example servers; see
   * protocol/session-refusal.ts). Under `migrate` either is intercepted: the session moves (inOpenSession). Under
   * `404` the backend's 404 goes to the client and the session ends here; its 400, which tells the client nothing
   * it can act on, is intercepted and ends the session with the router's 404.
   */
  private readonly refused: (r: ForwardResult, text: string | undefined) => boolean;
  /** Sees a session's backend status: a 404 from a backend session means it is gone. Adds no header. */
  private readonly watchGone: (r: ForwardResult, s: Session) => Readonly<Record<string, string>>;

  constructor(private readonly deps: SessionRequestDeps, private readonly opts: Options) {
    const migrate = opts.onRollback === 'migrate';
    this.refused = (r, text) => (migrate || r.status !== 404) && refusesSession(r.status, r.contentType ?? '', text);
    this.watchGone = (r, s) => {
      if (r.status === 404 && s.backendSession !== undefined) deps.migration.observed(s, { backendSessionGone: true });
      return NO_HEADERS;
    };
  }

  /** An initialize without a session id: a new session on the version the weights choose. */
  async start(req: IncomingMessage, res: ServerResponse, server: ServerState, body: Buffer, messages: JsonRpc[]): Promise<void> {
    const { table, keys, metrics, exchange } = this.deps;
    const open = table.countOf(server.name);
    // At the cap, an idle session on an HTTP backend gives way (it is taken on again from its id if its client
    // comes back): 503 only when every session is busy or holds a backend of its own here.
    if (open >= this.opts.maxSessionsPerServer && table.forgetIdleForwarded(server.name) === undefined) {
      return rpcError(res, 503, -32000, `server "${server.name}" has ${open} open sessions, the most allowed (--max-sessions ${this.opts.maxSessionsPerServer}), and every one has a request in flight, an open stream or a backend process of its own; try again later`, messages[0]?.id ?? null);
    }
    const record = chooseByWeight(server.versions, this.deps.draw());
    if (!record) return rpcError(res, 503, -32603, noVersionCarriesTraffic(server.name), messages[0]?.id ?? null);
    if (record.type !== 'http') return this.startBridged(req, res, server, record, messages);
    const started = this.deps.now();
    const session: Session = { token: '', server: server.name, version: record.version, record: this.opts.backendOf?.(server.name, record) ?? record, startedAt: started, lastUsed: started, leg: { inflight: 0 } };
    const init = messages.find((x) => x.method === 'initialize')?.params;
    if (init) session.init = init;
    const keepVersion = (m: unknown): void => {
      const pv = (m as JsonRpc).result?.protocolVersion;
      if (typeof pv === 'string') session.protocolVersion = pv;
    };
    await exchange.exchange(req, res, session, { body, messages, onResult: keepVersion, withHeaders: (r): Record<string, string> => {
      if (r.status >= 300) return {};
      if (r.backendSession !== undefined) session.backendSession = r.backendSession;
      session.token = keys.seal({ server: server.name, version: record.version, startedAt: started, ...(r.backendSession === undefined ? {} : { backendSession: r.backendSession }) });
      table.add(session);
      metrics.sessionStarted(server.name, record.version);
      return { 'mcp-session-id': session.token };
    } });
    // The registry may have changed while the backend answered the initialize: the session joined the table
    // after the change's sweep, so it is judged now, as the sweep would have (a removed version moves it).
    if (table.has(session.token)) this.deps.migration.observed(session);
  }

  /**
   * A legacy session on a stdio version (its own process) or an sse version (its own SSE connection),
   * bridged to Streamable HTTP for the session's lifetime.
   */
  private startBridged(req: IncomingMessage, res: ServerResponse, server: ServerState, record: VersionRecord, messages: JsonRpc[]): void {
    const room = this.deps.table.makeRoom(server.name, record, this.opts.maxProcessesPerVersion);
    if (typeof room === 'string') return rpcError(res, 503, -32000, room, messages[0]?.id ?? null);
    const started = this.deps.now();
    const token = this.deps.keys.seal({ server: server.name, version: record.version, startedAt: started, owner: this.deps.address() });
    const session: Session = { token, server: server.name, version: record.version, startedAt: started, lastUsed: started };
    const init = messages.find((x) => x.method === 'initialize')?.params;
    if (init) session.init = init;
    const front = new StreamableFront(token, () => this.deps.bridges.endedByClient(session));
    this.deps.bridges.open(session, record, front, room);
    front.handleRequest(req, res, messages.length === 1 ? messages[0] : messages);
    // A refused initialize (not acceptable, not JSON-RPC, batched) leaves no session, and no process, behind.
    if (!front.initialized) void this.deps.table.end(session);
  }

  /**
   * `GET /sse/<name>`: a session of the legacy HTTP+SSE transport for older clients. The version is chosen
   * by weight; the stream's first event names the URL to POST messages to.
   */
  startSse(res: ServerResponse, server: ServerState): void {
    const record = chooseByWeight(server.versions, this.deps.draw());
    if (!record) return plain(res, 503, noVersionCarriesTraffic(server.name));
    const room = this.deps.table.makeRoom(server.name, record, this.opts.maxProcessesPerVersion);
    if (typeof room === 'string') return plain(res, 503, room);
    const started = this.deps.now();
    const front = new SSEServerTransport(`/sse/${encodeURIComponent(server.name)}/messages`, res);
    const session: Session = { token: front.sessionId, server: server.name, version: record.version, startedAt: started, lastUsed: started };
    this.deps.bridges.open(session, record, front, room);
    res.on('close', () => void session.bridge?.close());
    void front.start();
  }

  /** `POST /sse/<name>/messages?sessionId=...`: one message of a legacy HTTP+SSE session. */
  async sseMessage(req: IncomingMessage, res: ServerResponse, server: ServerState): Promise<void> {
    const sid = new URL(req.url ?? '/', 'http://x').searchParams.get('sessionId') ?? '';
    const session = this.deps.table.get(sid);
    if (!session || session.server !== server.name || !(session.front instanceof SSEServerTransport)) {
      const why = this.deps.table.whyEnded(sid);
      return plain(res, 404, why === undefined ? 'Session not found' : `Session not found: ${why}; connect again`);
    }
    const why = await this.deps.migration.judge(session);
    if (why !== undefined) return plain(res, 404, `Session not found: ${why}; connect again`);
    session.lastUsed = this.deps.now();
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

  /** A request carrying `Mcp-Session-Id`: to the session held here, or taken on from its id. */
  async inSession(req: IncomingMessage, res: ServerResponse, server: ServerState, sid: string, body: Buffer | undefined, messages: JsonRpc[]): Promise<void> {
    const id = messages.find((x) => x.id !== undefined)?.id ?? null;
    const why = this.deps.table.whyEnded(sid);
    const session = this.deps.table.get(sid) ?? (why === undefined ? await this.deps.adoption.adopt({ method: req.method, protocolVersion: header(req, 'mcp-protocol-version') }, sid, server) : undefined);
    if (typeof session === 'string' || !session || session.server !== server.name) {
      const reason = typeof session === 'string' ? session : why;
      return rpcError(res, 404, -32001, `Session not found: ${reason ? `${reason}; ` : ''}initialize a new session`, id);
    }
    return this.inOpenSession(req, res, session, body, messages, id);
  }

  private async inOpenSession(req: IncomingMessage, res: ServerResponse, session: Session, body: Buffer | undefined, messages: JsonRpc[], id: string | number | null): Promise<void> {
    const { table, migration, exchange } = this.deps;
    session.protocolVersion ??= header(req, 'mcp-protocol-version');
    // A session that stays is judged at once: its request goes to the backend in this turn, not the next.
    const judged = migration.judge(session);
    const why = judged && (await judged);
    if (why !== undefined) return rpcError(res, 404, -32001, `Session not found: ${why}; initialize a new session`, id);
    session.lastUsed = this.deps.now();
    // The client resumes an answer stream its backend ended before the answers (SSE polling): the GET goes to
    // the backend session holding them, wherever the session went meanwhile.
    const resume = req.method === 'GET' ? claim(session, header(req, 'last-event-id')) : undefined;
    if (resume) return void (await exchange.exchange(req, res, session, { messages: [], resume }));
    if (session.front instanceof StreamableFront) return this.viaFront(req, res, session, session.front, messages);
    if (session.front) return rpcError(res, 404, -32001, 'Session not found: this session uses the /sse endpoint', id);
    if (req.method === 'DELETE') {
      table.endedByClient(session.token); // not to be taken on again here
      table.drop(session);
      await exchange.exchange(req, res, session, { messages: [] });
      return;
    }
    const leg = session.leg;
    const outcome = await exchange.exchange(req, res, session, { body, messages, intercept: this.refused, withHeaders: this.watchGone });
    if (!outcome?.intercepted) return;
    // The backend refused the session without serving the request: the session moves (unless a request that met
    // the same refusal moved it already; under `404` it ends), and the request is sent once more, to the new
    // backend session.
    if (session.leg === leg && !session.moving) {
      const d = migration.decide(session, { backendSessionGone: true });
      const ended = d.action === 'stay' ? undefined : await migration.act(session, d);
      if (ended !== undefined) return rpcError(res, 404, -32001, `Session not found: ${ended}; initialize a new session`, id);
    }
    const again = await migration.judge(session);
    if (again !== undefined) return rpcError(res, 404, -32001, `Session not found: ${again}; initialize a new session`, id);
    // Moved to a stdio or sse version: the session has a front now (TypeScript does not see the move).
    const front = session.front as Session['front'];
    if (front instanceof StreamableFront) return this.viaFront(req, res, session, front, messages);
    await exchange.exchange(req, res, session, { body, messages });
  }

  /** A request of a bridged session: to its front, which speaks to its current bridge. */
  private viaFront(req: IncomingMessage, res: ServerResponse, session: Session, front: StreamableFront, messages: JsonRpc[]): void {
    // The session's idle time counts from when its client stopped listening.
    if (req.method === 'GET') res.on('close', () => (session.lastUsed = this.deps.now()));
    front.handleRequest(req, res, req.method === 'POST' ? (messages.length === 1 ? messages[0] : messages) : undefined);
  }
}
