/**
 * A Streamable HTTP backend, message by message, over our own HTTP/1.1 client (backend-client.ts: connect
 * deadline, keep-alive pool, strict framing), as the MCP specification's transport describes the client side:
 * - each message is POSTed (Accept: application/json, text/event-stream) with the headers its revision requires
 *   (MCP-Protocol-Version once negotiated; the 2026-07-28 per-message headers, see modern-headers.ts); its
 *   answer is a JSON body or an SSE stream, parsed as it arrives and bounded by `maxMessageBytes`;
 * - the `Mcp-Session-Id` the backend gives (with its initialize answer) goes on every later request;
 * - once the session is initialised, a GET stream carries the backend's own messages when it offers one (405:
 *   it does not); a stream that drops is reopened with `Last-Event-ID`, so nothing sent meanwhile is lost;
 * - a 404 to a request that carried the session id means the backend no longer knows the session (it
 *   restarted): the upstream reports `sessionGone` with the messages so refused, which it never processed; so
 *   does a 400 whose JSON-RPC error speaks of the session (protocol/session-refusal.ts: the SDK's example
 *   servers, server-everything among them, answer an unknown session id so);
 * - closing DELETEs the session (best effort).
 * - an answer stream the backend ends after an event id but before the answers (SSE polling, MCP 2025-11-25)
 *   is resumed with GET and `Last-Event-ID` after the backend's `retry:` delay, until the answers come;
 * Messages pass unchanged (ids included). Nothing is retried but the GET streams: a POST goes out once.
 */
import { backendTarget, send, type BackendCall, type BackendTarget } from './backend-client.js';
import { endBackendSession } from './http-forward.js';
import { mcpRequestHeaders } from '../protocol/modern-headers.js';
import { EDGE_BYTES } from '../protocol/line-splitter.js';
import { peekId } from '../protocol/peek-id.js';
import { refusesSession } from '../protocol/session-refusal.js';
import { SseParser } from '../protocol/sse-parser.js';
import type { Upstream, UpstreamEvents } from './upstream.js';

export interface StreamableHttpOptions {
  /** Largest message passed on from the backend, bytes. */
  maxMessageBytes: number;
  /** ms the backend may take to accept a connection (default: the backend client's). */
  connectTimeoutMs?: number;
}

type Id = string | number;

/** How often in a row the GET stream may fail to reopen before the backend counts as gone. */
const STREAM_ATTEMPTS = 5;
/** First delay before reopening a dropped GET stream, ms (doubled per failed attempt, unless the backend set one). */
const STREAM_RETRY_MS = 500;
/** Most of an error answer's body quoted in the error its request gets. */
const ERROR_BODY_CHARS = 300;

export class StreamableHttpUpstream implements Upstream {
  private open = true;
  /** The backend's session id, once its initialize answer gave one. */
  private session: string | undefined;
  /** The protocol version the initialize result settled, once it passed. */
  private version: string | undefined;
  private paused = false;
  /** Exchanges under way (POST answers, the GET stream): paused and aborted together. */
  private readonly calls = new Set<BackendCall>();
  /** The GET stream: none asked yet, being opened or open, refused by the backend (405 or another answer). */
  private stream: 'none' | 'on' | 'refused' = 'none';
  private streamCall: BackendCall | undefined;
  private streamTimer: NodeJS.Timeout | undefined;
  private streamFailures = 0;
  /** Answer streams waiting to be resumed (SSE polling), by their timers. */
  private readonly resumptions = new Set<NodeJS.Timeout>();
  private lastEventId: string | undefined;
  /** The reconnection delay the backend asked for (SSE `retry:`), ms. */
  private retryMs: number | undefined;
  private readonly target: BackendTarget;

  private constructor(
    readonly label: string,
    private readonly url: string,
    private readonly headers: Record<string, string>,
    private readonly opts: StreamableHttpOptions,
    private readonly events: UpstreamEvents,
  ) {
    this.target = backendTarget(url);
  }

  /**
   * Makes the upstream; nothing is sent until the first message (the initialize request opens the session).
   * Rejects on a URL that is not http: or https:. `headers` are the version's configured ones (credentials).
   */
  static start(label: string, url: string, headers: Record<string, string>, opts: StreamableHttpOptions, events: UpstreamEvents): Promise<StreamableHttpUpstream> {
    try {
      return Promise.resolve(new StreamableHttpUpstream(label, url, headers, opts, events));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  get alive(): boolean {
    return this.open;
  }

  negotiated(protocolVersion: string): void {
    this.version = protocolVersion;
  }

  /** POSTs one message (or batch); its answer, and any messages the backend sends with it, go to `events.message`. */
  send(message: unknown, text?: string): void {
    if (!this.open) return;
    const body = Buffer.from(text ?? JSON.stringify(message));
    const headers: Record<string, string> = { ...this.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...mcpRequestHeaders(message, this.version) };
    const sentSession = this.session;
    if (sentSession !== undefined) headers['mcp-session-id'] = sentSession;
    /** The requests in the message, until each has its answer. */
    const waiting = new Set<string>();
    for (const m of Array.isArray(message) ? message : [message]) {
      const x = m as { id?: unknown; method?: unknown };
      if (typeof x.method === 'string' && (typeof x.id === 'string' || typeof x.id === 'number')) waiting.add(key(x.id));
    }
    let reader: ((chunk: Buffer) => void) | undefined;
    let finish: (() => void) | undefined;
    let call: BackendCall | undefined;
    const fail = (why: string): void => {
      for (const k of waiting) this.events.message(errorFor(unkey(k), why));
      waiting.clear();
    };
    const deliver = (m: unknown, raw: string): void => {
      for (const x of Array.isArray(m) ? m : [m]) {
        const r = x as { id?: unknown; method?: unknown };
        if (r.method === undefined && (typeof r.id === 'string' || typeof r.id === 'number')) waiting.delete(key(r.id));
      }
      this.events.message(m, raw.includes('\n') ? undefined : raw);
    };
    try {
      call = send(this.target, 'POST', headers, body, {
        head: (h) => {
          const sid = h.headers['mcp-session-id'];
          if (sid !== undefined && this.open) this.session = sid;
          const type = h.headers['content-type'] ?? '';
          if (h.status === 404 && sentSession !== undefined) {
            this.drop(call);
            return this.gone(`${this.label} no longer knows the session (it answered 404: the backend restarted)`, [message]);
          }
          if (h.status === 202 || (h.status >= 200 && h.status < 300 && waiting.size === 0)) {
            if (isInitialized(message)) this.openStream();
            return; // the body, if any, is read and ignored
          }
          if (h.status < 200 || h.status >= 300) {
            // The backend's own JSON-RPC error for the request, when it gave one, is the better answer.
            const body = collect(ERROR_BODY_CHARS * 4);
            reader = body.push;
            finish = () => {
              const text = body.text();
              // A 400 about the session is a restarted backend too, as many servers built on the SDK's examples say it.
              if (sentSession !== undefined && refusesSession(h.status, type, text)) {
                return this.gone(`${this.label} no longer knows the session (it answered ${h.status}: ${text.trim().slice(0, ERROR_BODY_CHARS)})`, [message]);
              }
              const parsed = type.includes('json') ? parse(text) : undefined;
              if (parsed !== undefined && isAnswerTo(parsed, waiting)) return deliver(parsed, text);
              fail(`${this.label} answered HTTP ${h.status}${text.trim() === '' ? '' : `: ${text.trim().slice(0, ERROR_BODY_CHARS)}`}`);
            };
            return;
          }
          if (type.includes('text/event-stream')) {
            const stream = this.answerStream(waiting, deliver, fail, 0);
            reader = stream.push;
            finish = stream.end;
            return;
          }
          if (type.includes('json')) {
            const body = collect(this.opts.maxMessageBytes);
            reader = body.push;
            finish = () => {
              if (body.over) return this.oversize(body.size, body.head(), body.tail(), waiting);
              const text = body.text();
              const m = parse(text);
              if (m === undefined) return fail(`${this.label} answered with a body that is not JSON-RPC`);
              deliver(m, text);
              if (waiting.size > 0) fail(`${this.label} answered without answering every request`);
            };
            return;
          }
          fail(`${this.label} answered with content type "${type}", neither JSON nor an event stream`);
        },
        data: (c) => reader?.(c),
        end: () => {
          this.drop(call);
          finish?.();
        },
        error: (e) => {
          this.drop(call);
          fail(`${this.label} failed: ${e.message}`);
        },
      }, this.opts.connectTimeoutMs);
    } catch (e) {
      return fail(`${this.label} failed: ${(e as Error).message}`);
    }
    this.track(call);
  }

  /**
   * Reads an SSE answer to the `waiting` requests. A stream that ends before their answers, after an event id,
   * was closed by a polling backend (MCP 2025-11-25): it is resumed with GET and Last-Event-ID after the delay
   * the backend asked for (`retry:`), as often as the backend closes it; one that ends without an id fails
   * them. `failures`: resumptions in a row that could not reach the backend. `resumedFrom`: the event id a
   * resumed stream started after (a backend may close it again before it sends any event of its own).
   */
  private answerStream(waiting: Set<string>, deliver: (m: unknown, raw: string) => void, fail: (why: string) => void, failures: number, resumedFrom?: string): { push(c: Buffer): void; end(): void } {
    const sse = new SseParser(this.opts.maxMessageBytes, {
      event: (e) => {
        if (e.event !== undefined && e.event !== 'message') return;
        const m = parse(e.data);
        if (m === undefined) return void (e.data.trim() === '' || this.events.noise?.()); // a priming event has no data
        deliver(m, e.data);
      },
      oversize: (bytes, head, tail) => this.oversize(bytes, head, tail, waiting),
      retry: (ms) => (this.retryMs = ms),
    });
    return {
      push: (c) => sse.push(c),
      end: () => {
        sse.end();
        if (waiting.size === 0) return;
        const lastEventId = sse.lastEventId ?? resumedFrom;
        if (lastEventId === undefined) return fail(`${this.label} ended its answer stream without answering`);
        this.resumeAnswer(waiting, lastEventId, deliver, fail, failures);
      },
    };
  }

  /** GETs the rest of an answer stream from `lastEventId` (see answerStream), after the backend's retry delay. */
  private resumeAnswer(waiting: Set<string>, lastEventId: string, deliver: (m: unknown, raw: string) => void, fail: (why: string) => void, failures: number): void {
    const again = (why: string): void => {
      if (failures + 1 >= STREAM_ATTEMPTS) return fail(`${this.label} closed its answer stream and could not be reached to resume it (${why})`);
      this.resumeAnswer(waiting, lastEventId, deliver, fail, failures + 1);
    };
    const timer = setTimeout(() => {
      this.resumptions.delete(timer);
      if (!this.open) return; // closed (its requests are the closer's), or the session is gone
      const headers: Record<string, string> = { ...this.headers, accept: 'text/event-stream', 'last-event-id': lastEventId };
      if (this.session !== undefined) headers['mcp-session-id'] = this.session;
      if (this.version !== undefined) headers['mcp-protocol-version'] = this.version;
      let stream: { push(c: Buffer): void; end(): void } | undefined;
      let call: BackendCall | undefined;
      let refused: ReturnType<typeof collect> | undefined;
      let status = 0;
      try {
        call = send(this.target, 'GET', headers, undefined, {
          head: (h) => {
            status = h.status;
            if (h.status === 200 && (h.headers['content-type'] ?? '').includes('text/event-stream')) stream = this.answerStream(waiting, deliver, fail, 0, lastEventId);
            else refused = collect(ERROR_BODY_CHARS * 4);
          },
          data: (c) => (stream ?? refused)?.push(c),
          end: () => {
            this.drop(call);
            if (stream) return stream.end();
            const text = refused?.text().trim() ?? '';
            fail(`${this.label} answered HTTP ${status} to the resumption of its answer stream${text === '' ? '' : `: ${text.slice(0, ERROR_BODY_CHARS)}`}`);
          },
          error: (e) => {
            this.drop(call);
            again(e.message);
          },
        }, this.opts.connectTimeoutMs);
      } catch (e) {
        return fail(`${this.label} failed: ${(e as Error).message}`);
      }
      this.track(call);
    }, this.retryMs ?? STREAM_RETRY_MS * 2 ** failures);
    timer.unref();
    this.resumptions.add(timer);
  }

  /** An answer over the limit: dropped; the request it answered (by its ends, else the POST's only one) is told. */
  private oversize(bytes: number, head: string, tail: string, waiting: Set<string>): void {
    const peeked = peekId(head, tail);
    const id = peeked ?? (waiting.size === 1 ? unkey([...waiting][0]!) : undefined);
    if (id !== undefined && id !== null) waiting.delete(key(id));
    this.events.oversize?.(bytes, id);
  }

  pause(): void {
    this.paused = true;
    for (const c of this.calls) c.pause();
  }

  resume(): void {
    this.paused = false;
    for (const c of this.calls) c.resume();
  }

  /** Ends the session: exchanges under way stop, the GET stream closes, the session is DELETEd. */
  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.stopStream();
    for (const t of this.resumptions) clearTimeout(t);
    this.resumptions.clear();
    for (const c of this.calls) c.abort();
    this.calls.clear();
    const session = this.session;
    if (session !== undefined) await endBackendSession(this.url, { ...this.headers, ...(this.version === undefined ? {} : { 'mcp-protocol-version': this.version }) }, session);
    this.events.close('closed', false);
  }

  private track(call: BackendCall): void {
    if (call.complete) return;
    this.calls.add(call);
    if (this.paused) call.pause();
  }

  private drop(call: BackendCall | undefined): void {
    if (call) this.calls.delete(call);
  }

  /**
   * The backend forgot the session. The first time, the upstream ends (the GET stream with it) and reports it;
   * answers still under way arrive as they come, and later refusals are reported the same way.
   */
  private gone(reason: string, refused: unknown[]): void {
    if (this.open) {
      this.open = false;
      this.stopStream();
    }
    if (this.events.sessionGone) return this.events.sessionGone(reason, refused);
    // A user that cannot move the session: it is a death like any other (its requests fail there).
    if (!this.reportedGone) {
      this.reportedGone = true;
      this.events.close(reason, true);
    }
  }

  private reportedGone = false;

  /** Opens (or reopens, with Last-Event-ID) the GET stream for the backend's own messages. */
  private openStream(): void {
    if (!this.open || this.stream === 'refused' || this.streamCall !== undefined) return;
    this.stream = 'on';
    clearTimeout(this.streamTimer);
    const headers: Record<string, string> = { ...this.headers, accept: 'text/event-stream' };
    if (this.session !== undefined) headers['mcp-session-id'] = this.session;
    if (this.version !== undefined) headers['mcp-protocol-version'] = this.version;
    if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId;
    const sentSession = this.session;
    let sse: SseParser | undefined;
    let call: BackendCall | undefined;
    const dropped = (why: string | undefined): void => {
      this.drop(call);
      if (this.streamCall !== call) return;
      this.streamCall = undefined;
      if (sse?.lastEventId !== undefined) this.lastEventId = sse.lastEventId;
      if (!this.open || this.stream !== 'on') return;
      if (why !== undefined && ++this.streamFailures >= STREAM_ATTEMPTS) {
        this.open = false;
        return this.events.close(`${this.label}: its event stream broke off and could not be reopened (${why})`, true);
      }
      const delay = this.retryMs ?? STREAM_RETRY_MS * 2 ** this.streamFailures;
      this.streamTimer = setTimeout(() => this.openStream(), delay);
      this.streamTimer.unref();
    };
    try {
      call = send(this.target, 'GET', headers, undefined, {
        head: (h) => {
          if (h.status === 404 && sentSession !== undefined) {
            this.stream = 'refused';
            call?.abort();
            this.drop(call);
            this.streamCall = undefined;
            return this.gone(`${this.label} no longer knows the session (its event stream got 404: the backend restarted)`, []);
          }
          if (h.status !== 200 || !(h.headers['content-type'] ?? '').includes('text/event-stream')) {
            // 405: the backend offers no stream; any other answer: it will not, this session.
            this.stream = 'refused';
            return;
          }
          this.streamFailures = 0;
          sse = new SseParser(this.opts.maxMessageBytes, {
            event: (e) => {
              if (e.event !== undefined && e.event !== 'message') return;
              const m = parse(e.data);
              if (m === undefined) return void (e.data.trim() === '' || this.events.noise?.());
              this.events.message(m, e.data.includes('\n') ? undefined : e.data);
            },
            oversize: (bytes, head, tail) => this.events.oversize?.(bytes, peekId(head, tail)),
            retry: (ms) => (this.retryMs = ms),
          });
        },
        data: (c) => sse?.push(c),
        end: () => {
          sse?.end();
          dropped(undefined);
        },
        error: (e) => dropped(e.message),
      }, this.opts.connectTimeoutMs);
    } catch (e) {
      this.stream = 'refused';
      return void this.events.close(`${this.label}: ${(e as Error).message}`, true);
    }
    this.streamCall = call;
    this.track(call);
  }

  private stopStream(): void {
    clearTimeout(this.streamTimer);
    this.streamCall?.abort();
    if (this.streamCall) this.drop(this.streamCall);
    this.streamCall = undefined;
  }
}

function key(id: Id): string {
  return typeof id === 'number' ? `n${id}` : `s${id}`;
}

function unkey(k: string): Id {
  return k.startsWith('n') ? Number(k.slice(1)) : k.slice(1);
}

function errorFor(id: Id, message: string): unknown {
  return { jsonrpc: '2.0', id, error: { code: -32603, message } };
}

/** A JSON-RPC message (object or batch) from `text`, or undefined when it is not one. */
function parse(text: string): unknown {
  const t = text.trimStart();
  if (!t.startsWith('{') && !t.startsWith('[')) return undefined; // a priming event, or no JSON at all
  try {
    const m: unknown = JSON.parse(text);
    return typeof m === 'object' && m !== null ? m : undefined;
  } catch {
    return undefined;
  }
}

function isInitialized(message: unknown): boolean {
  return (message as { method?: unknown } | null)?.method === 'notifications/initialized';
}

/** True when `m` is a response to one of the requests waited for. */
function isAnswerTo(m: unknown, waiting: Set<string>): boolean {
  const r = m as { id?: unknown; method?: unknown };
  return r.method === undefined && (typeof r.id === 'string' || typeof r.id === 'number') && waiting.has(key(r.id));
}

/** A body gathered up to `max` bytes; past that, only its size and its ends are kept. */
function collect(max: number): { push(c: Buffer): void; text(): string; head(): string; tail(): string; readonly over: boolean; readonly size: number } {
  const parts: Buffer[] = [];
  let size = 0;
  let over = false;
  let head = Buffer.alloc(0);
  let tail = Buffer.alloc(0);
  return {
    push(c) {
      size += c.length;
      if (!over && size > max) {
        over = true;
        const seen = Buffer.concat([...parts, c]);
        head = Buffer.from(seen.subarray(0, EDGE_BYTES));
        tail = Buffer.from(seen.subarray(-EDGE_BYTES));
        parts.length = 0;
      } else if (over) tail = Buffer.from(Buffer.concat([tail, c]).subarray(-EDGE_BYTES));
      else parts.push(c);
    },
    text: () => (parts.length === 1 ? parts[0]! : Buffer.concat(parts)).toString('utf8'),
    head: () => head.toString('utf8'),
    tail: () => tail.toString('utf8'),
    get over() {
      return over;
    },
    get size() {
      return size;
    },
  };
}
