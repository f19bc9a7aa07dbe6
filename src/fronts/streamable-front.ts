/**
 * The client-facing side of a bridged legacy session (a stdio or sse version) over Streamable HTTP. Our own
 * rather than the SDK's server transport, which turns every request into a web Request and Response (through
 * hono's Node adapter, web streams and undici's Headers) and checks every message with zod: on the router's hot
 * path that cost more than the rest of the hop. It behaves as the SDK's transport does for a session without
 * resumability (no event store):
 * - POST: 406 unless Accept names both JSON and SSE, 415 unless the body is JSON, 400 for something that is not
 *   JSON-RPC; notifications and responses only: 202; requests: an SSE stream with what relates to them, ended
 *   once every one is answered; or, when the answer to a single request is the first thing for it, that answer
 *   as a JSON body.
 * - GET: the session's one standalone SSE stream (409 for a second), for messages related to no open request;
 *   with no such stream they are dropped, as the SDK drops them.
 * - DELETE: ends the session. After initialization, an Mcp-Protocol-Version the SDK does not support: 400.
 * - Open streams get a keep-alive comment every 15 s.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { HEADER_DELAY_MS } from '../protocol/header-delay.js';
import { rpcError, SSE_HEADERS, sseEvent } from './replies.js';

type Id = string | number;
type Message = { jsonrpc?: unknown; id?: Id | null; method?: unknown; result?: unknown; error?: unknown };

/** An open answer: a POST's (with the requests it still owes an answer) or the GET stream. */
interface Stream {
  res: ServerResponse;
  owed: Set<string>;
  /** Its SSE headers are written (until then it may still become a JSON answer). */
  sse: boolean;
  /** Commits to SSE when nothing came for a moment. */
  flush?: NodeJS.Timeout;
  /** Comments that keep an SSE stream's connection alive (armed when it becomes one). */
  keepAlive?: NodeJS.Timeout;
}

/** Between a stream's opening comments. */
const KEEP_ALIVE_MS = 15_000;

const key = (id: Id): string => (typeof id === 'number' ? `n${id}` : `s${id}`);

export class StreamableFront implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (e: Error) => void;
  /**
   * Called with true when one of the session's streams will take no more for now (its client reads slower than
   * the backend sends), and with false once every such stream has drained or closed.
   */
  onbacklog?: (backlogged: boolean) => void;
  /** Streams waiting for their client to read what they were sent. */
  private readonly backlogged = new Set<ServerResponse>();
  private accepted = false;
  private closed = false;
  /** The stream of each request still owed an answer, by request id. */
  private readonly streams = new Map<string, Stream>();
  private standalone: Stream | undefined;
  /** The router's own notices kept for a GET stream not open yet (one of each method). */
  private readonly held = new Set<string>();

  /**
   * @param sessionId the session id the client is given (the router's sealed token)
   * @param onDelete called when the client ends the session with DELETE
   * @param initialized the session was initialized elsewhere (a session moved here from another router, or from
   *   this router's previous run): its client will not send initialize again
   */
  constructor(
    readonly sessionId: string,
    private readonly onDelete: () => void,
    initialized = false,
  ) {
    this.accepted = initialized;
  }

  /** The client's initialize was accepted (a session whose initialize was refused has nothing to serve). */
  get initialized(): boolean {
    return this.accepted;
  }

  /** The client holds the session's standalone (GET) stream open. */
  get listening(): boolean {
    return this.standalone !== undefined;
  }

  async start(): Promise<void> {}

  /** Serves one HTTP request of the session; `body` is a POST's parsed body. */
  handleRequest(req: IncomingMessage, res: ServerResponse, body?: unknown): void {
    if (this.closed) return rpcError(res, 404, -32001, 'Session not found', null);
    if (req.method === 'POST') return this.post(req, res, body);
    if (req.method === 'GET') return this.get(req, res);
    if (req.method === 'DELETE') return this.delete(req, res);
    res.writeHead(405, { allow: 'GET, POST, DELETE' }).end();
  }

  private post(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    const accept = req.headers.accept ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      return rpcError(res, 406, -32000, 'Not Acceptable: Client must accept both application/json and text/event-stream', null);
    }
    if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) return rpcError(res, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json', null);
    const messages = (Array.isArray(body) ? body : [body]) as Message[];
    if (messages.length === 0 || !messages.every(isMessage)) return rpcError(res, 400, -32700, 'Parse error: Invalid JSON-RPC message', null);
    if (messages.some((m) => m.method === 'initialize')) {
      if (this.accepted) return rpcError(res, 400, -32600, 'Invalid Request: Server already initialized', null);
      if (messages.length > 1) return rpcError(res, 400, -32600, 'Invalid Request: Only one initialization request is allowed', null);
      this.accepted = true;
    } else if (this.refuseVersion(req, res)) return;
    const requests = messages.filter((m) => typeof m.method === 'string' && m.id !== undefined && m.id !== null);
    if (requests.length === 0) {
      for (const m of messages) this.onmessage?.(m as JSONRPCMessage);
      res.writeHead(202).end();
      return;
    }
    const stream = this.open(res, false);
    for (const r of requests) {
      const k = key(r.id!);
      stream.owed.add(k);
      this.streams.set(k, stream);
    }
    // A client that leaves gets nothing more: later answers to its requests have nowhere to go.
    res.on('close', () => {
      for (const k of stream.owed) if (this.streams.get(k) === stream) this.streams.delete(k);
      this.stop(stream, false);
    });
    for (const m of messages) this.onmessage?.(m as JSONRPCMessage);
  }

  private get(req: IncomingMessage, res: ServerResponse): void {
    if (!(req.headers.accept ?? '').includes('text/event-stream')) return rpcError(res, 406, -32000, 'Not Acceptable: Client must accept text/event-stream', null);
    if (this.refuseVersion(req, res)) return;
    if (this.standalone) return rpcError(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session', null);
    const stream = this.open(res, true);
    this.standalone = stream;
    for (const method of this.held) this.write(stream, { jsonrpc: '2.0', method });
    this.held.clear();
    res.on('close', () => {
      if (this.standalone === stream) this.standalone = undefined;
      this.stop(stream, false);
    });
  }

  private delete(req: IncomingMessage, res: ServerResponse): void {
    if (this.refuseVersion(req, res)) return;
    this.onDelete();
    res.writeHead(200).end();
    void this.close();
  }

  /** Answers 400 for a protocol version the SDK does not know (true when it did). */
  private refuseVersion(req: IncomingMessage, res: ServerResponse): boolean {
    const v = req.headers['mcp-protocol-version'];
    if (typeof v !== 'string' || SUPPORTED_PROTOCOL_VERSIONS.includes(v)) return false;
    rpcError(res, 400, -32000, `Bad Request: Unsupported protocol version: ${v} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`, null);
    return true;
  }

  /**
   * Starts an answer. A GET stream is SSE at once (`now`). A POST's waits a moment: if the first thing for it is
   * its one answer, that goes as a JSON body (cheaper for the client than a stream to parse; the specification
   * lets a server answer either way); anything else, or nothing for a moment, makes it an SSE stream.
   */
  private open(res: ServerResponse, now: boolean): Stream {
    const stream: Stream = { res, owed: new Set(), sse: false };
    if (now) this.sse(stream).flushHeaders();
    else stream.flush = setTimeout(() => this.sse(stream).flushHeaders(), HEADER_DELAY_MS);
    return stream;
  }

  /** The stream's response, committed to SSE (its headers written, sent with the next write). */
  private sse(stream: Stream): ServerResponse {
    if (!stream.sse) {
      stream.sse = true;
      clearTimeout(stream.flush);
      stream.res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': this.sessionId });
      stream.keepAlive = setInterval(() => stream.res.write(': keepalive\n\n'), KEEP_ALIVE_MS).unref();
    }
    return stream.res;
  }

  /** Stops the stream's timers (after ending it, when `end`: ending commits it to SSE, which arms one). */
  private stop(stream: Stream, end: boolean): void {
    clearTimeout(stream.flush);
    if (end && !stream.res.writableEnded) this.sse(stream).end();
    clearInterval(stream.keepAlive);
  }

  /**
   * Sends a message to the client: an answer, or what relates to an open request, on that request's stream;
   * anything else on the GET stream. Throws for an answer or related message whose stream is gone.
   */
  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const m = message as Message;
    const answer = m.method === undefined && m.id !== undefined && m.id !== null;
    const id = answer ? m.id! : (options?.relatedRequestId as Id | undefined);
    if (id === undefined) {
      if (answer) throw new Error('Cannot send a response on a standalone SSE stream unless resuming a previous client request');
      if (this.standalone) this.write(this.standalone, m);
      return;
    }
    const k = key(id);
    const stream = this.streams.get(k);
    if (!stream) throw new Error(`No connection established for request ID: ${String(id)}`);
    if (!answer) return this.write(stream, m);
    stream.owed.delete(k);
    this.streams.delete(k);
    if (stream.owed.size > 0) return this.write(stream, m);
    this.stop(stream, false);
    if (!stream.sse) {
      const body = JSON.stringify(m);
      stream.res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'mcp-session-id': this.sessionId });
      stream.res.end(body);
    } else stream.res.end(sseEvent(m)); // the last answer the stream owes goes out with its end, in one write
  }

  private write(stream: Stream, m: Message): void {
    const res = this.sse(stream);
    if (res.write(sseEvent(m)) || this.backlogged.has(res)) return;
    this.backlogged.add(res);
    if (this.backlogged.size === 1) this.onbacklog?.(true);
    const drained = (): void => {
      res.off('drain', drained).off('close', drained);
      this.backlogged.delete(res);
      if (this.backlogged.size === 0) this.onbacklog?.(false);
    };
    res.on('drain', drained).on('close', drained);
  }

  /**
   * A notification of the router's own (list_changed after a move) on the GET stream; with none open, kept
   * until the client opens one. A session moved while its client was away (its router gone) would otherwise
   * never hear that the lists changed: its client reopens the stream only after the move.
   */
  notice(method: string): void {
    if (this.standalone) this.write(this.standalone, { jsonrpc: '2.0', method });
    else this.held.add(method);
  }

  /** Ends the session's streams; `onclose` once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of new Set(this.streams.values())) this.stop(s, true);
    this.streams.clear();
    if (this.standalone) this.stop(this.standalone, true);
    this.standalone = undefined;
    this.onclose?.();
  }
}

function isMessage(m: unknown): m is Message {
  if (typeof m !== 'object' || m === null) return false;
  const x = m as Message;
  return x.jsonrpc === '2.0' && (typeof x.method === 'string' || (x.id !== undefined && ('result' in x || 'error' in x)));
}
