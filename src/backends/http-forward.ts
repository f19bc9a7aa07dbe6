/**
 * One HTTP exchange with a Streamable HTTP backend: the request goes out with the client's MCP headers, the
 * response streams back to the client as it arrives, and every JSON-RPC message in it (a JSON body, or the
 * `data:` lines of an SSE stream) is shown to `onMessage` on the way, without holding the stream back.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { backendTarget, send, type BackendCall, type BackendHead } from './backend-client.js';
import { HEADER_DELAY_MS } from '../protocol/header-delay.js';

/** Client headers worth passing to a backend (the rest are hop-by-hop or the router's own). */
const FORWARD = ['accept', 'content-type', 'mcp-protocol-version', 'last-event-id', 'mcp-method', 'mcp-name', 'user-agent'];
/** Backend response headers worth passing back. */
const BACK = ['content-type', 'cache-control', 'mcp-protocol-version', 'x-accel-buffering', 'www-authenticate', 'retry-after'];

export interface ForwardRequest {
  url: string;
  method: 'POST' | 'GET' | 'DELETE';
  clientHeaders: IncomingHttpHeaders;
  /** The version's configured headers (credentials for the backend): they replace the client's, whatever the case. */
  headers: Record<string, string>;
  /**
   * The MCP headers the body requires (see mcpRequestHeaders): sent where the client did not send its own, so a
   * client that put the 2026-07-28 `_meta` in the body but left the headers out still reaches a backend that
   * checks them. The client's own are forwarded as sent: a disagreement is the backend's to judge.
   */
  mcpHeaders?: Record<string, string>;
  backendSession?: string;
  body?: Buffer;
  /** Passed through when the router itself does not use bearer tokens. */
  forwardAuthorization: boolean;
  /**
   * ms until `forward` gives up on the backend: it then rejects with a TimeoutError, leaving `res` unended
   * (the caller says why to the client). Default: no deadline.
   */
  timeoutMs?: number;
  /** ms a backend may take to accept a new connection (default: the backend client's). */
  connectTimeoutMs?: number;
  /**
   * Aborting it ends the exchange with the backend but leaves `res` open for the caller (a session moving to
   * another backend writes its last words on the client's stream); `forward` resolves with `detached`.
   */
  stop?: AbortSignal;
  /**
   * An answer the caller takes over (the backend forgot the session: the router moves it and asks again):
   * nothing of it reaches `res`, and `forward` resolves with `intercepted`. Asked only of an answer whose status
   * is not 2xx, once its body has been read (`body`: the body as text when it is at most
   * INTERCEPT_BODY_BYTES; undefined for a larger one or a stream, asked as soon as that is known), before
   * anything of it is written to `res`.
   */
  intercept?: (r: ForwardResult, body: string | undefined) => boolean;
}

/** The backend did not finish answering within `ForwardRequest.timeoutMs`. */
export class TimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`did not answer within ${timeoutMs} ms`);
  }
}

export interface ForwardResult {
  status: number;
  /** The backend's `Mcp-Session-Id`, if it sent one. */
  backendSession?: string;
  /** The answer's content type (`text/event-stream` for a stream). */
  contentType?: string;
  /** The client went away before the answer ended (the backend's stream was closed too). */
  clientGone?: boolean;
  /** `ForwardRequest.stop` ended the exchange; `res` is left open. */
  detached?: boolean;
  /** `ForwardRequest.intercept` took the answer; nothing was written to `res`. */
  intercepted?: boolean;
  /** The last event id of an SSE answer that ended (the client may resume it with GET and `Last-Event-ID`). */
  lastEventId?: string;
}

/**
 * A result with every field present (absent ones undefined or false): one object shape whatever the answer, so
 * that the reads of it on every request stay monomorphic. Results that differed in their fields made those reads
 * megamorphic, and a read of an absent field there goes to the runtime: a few thousand instructions a request.
 */
function newResult(status: number, backendSession?: string, contentType?: string): ForwardResult {
  return { status, backendSession, contentType, clientGone: false, detached: false, intercepted: false, lastEventId: undefined };
}

/**
 * Sends `req` to the backend and streams its answer into `res`. `withHeaders` may add or change response
 * headers (the router's own session id) before they are written. `answered` tells, after each message seen,
 * whether the client has all it asked for (then its response ends). Resolves when the response has ended or
 * the client went away; rejects when the backend cannot be reached, fails, or misses `timeoutMs`, leaving `res`
 * unended (its headers may have been sent) for the caller to finish.
 */
export function forward(
  req: ForwardRequest,
  res: ServerResponse,
  withHeaders: (r: ForwardResult) => Readonly<Record<string, string>>,
  onMessage: (m: unknown) => void,
  answered: () => boolean = () => false,
): Promise<ForwardResult> {
  const headers: Record<string, string> = {};
  const client = req.clientHeaders;
  for (const h of FORWARD) {
    const v = client[h];
    if (typeof v === 'string') headers[h] = v;
  }
  // Parameter headers accompany Mcp-Method (2026-07-28 requests only).
  if (client['mcp-method'] !== undefined) for (const [k, v] of Object.entries(client)) if (k.startsWith('mcp-param-') && typeof v === 'string') headers[k] = v;
  if (req.forwardAuthorization && typeof client.authorization === 'string') headers.authorization = client.authorization;
  if (req.mcpHeaders !== undefined) for (const [k, v] of Object.entries(req.mcpHeaders)) headers[k] ??= v;
  // After the client's: the backend client keeps the last of names that differ only in case.
  Object.assign(headers, req.headers);
  if (req.backendSession !== undefined) headers['mcp-session-id'] = req.backendSession;
  return new Promise((resolve, reject) => {
    let done = false;
    let headerTimer: NodeJS.Timeout | undefined;
    let drain: NodeJS.Timeout | undefined;
    let answer: ForwardResult | undefined;
    /** Marks the exchange over (once: false when it already was) and stops its timers. */
    const settle = (): boolean => {
      if (done) return false;
      done = true;
      clearTimeout(headerTimer);
      clearTimeout(deadline);
      return true;
    };
    const deadline =
      req.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            if (!settle()) return;
            call.abort();
            reject(new TimeoutError(req.timeoutMs!));
          }, req.timeoutMs).unref();
    let inspect: ReturnType<typeof messageInspector> | undefined;
    /** Chunks passed on to the client and not yet shown to the inspector. */
    const unseen: Buffer[] = [];
    const inspectUnseen = (): void => {
      for (const c of unseen.splice(0)) inspect!.push(c);
    };
    /** Reading the backend waits for the client to take what it was sent. */
    let held = false;
    const finish = (): void => {
      settle();
      res.end();
      resolve(answer!);
    };
    let call: BackendCall;
    /** The head of a non-2xx answer kept from the client while its body is read for `intercept`. */
    let heldHead: BackendHead | undefined;
    /** That answer's body so far. */
    const withheld: Buffer[] = [];
    let withheldBytes = 0;
    /** Asks `intercept` about the answer: true when it took it (the exchange is then over). */
    const takenOver = (body: string | undefined): boolean => {
      if (!req.intercept!(answer!, body)) return false;
      settle();
      if (!call.complete) call.abort();
      answer!.intercepted = true;
      resolve(answer!);
      return true;
    };
    const writeHead = (up: BackendHead): void => {
      const back: Record<string, string> = {};
      for (const h of BACK) {
        const v = up.headers[h];
        if (v !== undefined) back[h] = v;
      }
      if (up.headers['content-length'] !== undefined) back['content-length'] = up.headers['content-length'];
      res.writeHead(up.status, Object.assign(back, withHeaders(answer!)));
      // A GET stream shows its headers at once. A POST's headers go out with the first chunk of its answer (one
      // write, one packet), or after a moment when the answer is slow to start.
      headerTimer = setTimeout(() => res.flushHeaders(), req.method === 'GET' ? 0 : HEADER_DELAY_MS);
      inspect = messageInspector(up.headers['content-type'] ?? '', onMessage);
    };
    const pass = (chunk: Buffer): void => {
      // The headers go out with this chunk: nothing is left for the header timer to flush.
      clearTimeout(headerTimer);
      // What came in one read from the backend leaves in one write to the client (node corks the response's
      // socket until `flush`, or until the response ends), and is looked at once it has gone out: the client
      // reads the answer while the router counts it.
      // A client that reads slower than the backend sends holds the backend back, rather than the router
      // holding the difference in memory.
      if (!res.write(chunk) && !held) {
        held = true;
        call.pause();
        res.once('drain', () => {
          held = false;
          call.resume();
        });
      }
      unseen.push(chunk);
    };
    /** The withheld answer goes to the client after all: its head, then what was read of its body. */
    const release = (): void => {
      const up = heldHead!;
      heldHead = undefined;
      writeHead(up);
      for (const c of withheld.splice(0)) pass(c);
    };
    try {
      call = send(backendTarget(req.url), req.method, headers, req.body, {
        head(up) {
          if (done) return;
          const sid = up.headers['mcp-session-id'];
          const type = up.headers['content-type'];
          answer = newResult(up.status, sid, type);
          if (req.intercept && (up.status < 200 || up.status >= 300)) {
            // A refusal is small: its body is read before anything goes out. A stream or a large body is judged by
            // its head alone.
            const length = Number(up.headers['content-length'] ?? 0);
            if (type?.includes('text/event-stream') || length > INTERCEPT_BODY_BYTES) {
              if (takenOver(undefined)) return;
            } else {
              heldHead = up;
              return;
            }
          }
          writeHead(up);
        },
        data(chunk) {
          if (done) return; // after the answer: nothing left for the client (see below)
          if (heldHead) {
            withheld.push(chunk);
            withheldBytes += chunk.length;
            if (withheldBytes <= INTERCEPT_BODY_BYTES || takenOver(undefined)) return;
            return release();
          }
          pass(chunk);
        },
        flush() {
          if (done || heldHead) return;
          res.socket?.uncork();
          inspectUnseen();
          // Every request of the POST is answered: the client's stream ends now rather than a round trip later,
          // when the backend ends its stream (the backend's rest is drained, the connection kept).
          if (answered()) {
            finish();
            drain = setTimeout(() => call.abort(), DRAIN_MS).unref();
          }
        },
        end() {
          clearTimeout(drain);
          if (done) return;
          if (heldHead) {
            if (takenOver(Buffer.concat(withheld).toString('utf8'))) return;
            release();
          }
          settle();
          res.end();
          inspectUnseen();
          inspect!.end();
          const id = inspect!.lastEventId();
          answer!.lastEventId = id;
          resolve(answer!);
        },
        error(e) {
          clearTimeout(drain);
          if (done) return;
          // What went out before the failure counts: answers in it reached the client. If they were all it asked
          // for, the exchange is complete; the backend's trouble after that is not the client's.
          inspectUnseen();
          if (answered()) return finish();
          if (settle()) reject(e); // the caller tells the client (on its SSE stream, if one has begun)
        },
      }, req.connectTimeoutMs);
    } catch (e) {
      settle();
      return reject(e as Error);
    }
    const stop = req.stop;
    stop?.addEventListener('abort', () => {
      clearTimeout(drain);
      if (!settle()) return;
      call.abort();
      answer ??= newResult(0);
      answer.detached = true;
      resolve(answer);
    }, { once: true });
    // A client that goes away, before the answer or during it, ends the exchange with the backend too (for a
    // stream, that is the cancellation). 499: the client closed the request.
    res.on('close', () => {
      if (!settle()) return;
      if (!call.complete) call.abort();
      answer ??= newResult(499);
      answer.clientGone = true;
      resolve(answer);
    });
  });
}

/**
 * The largest body of a non-2xx answer read for `ForwardRequest.intercept` before the answer goes on, bytes (a
 * session refusal is about 100).
 */
export const INTERCEPT_BODY_BYTES = 4 * 1024;

/** How long a backend may take to end a stream whose every answer has been passed on, ms. */
const DRAIN_MS = 5_000;

/** Text that may be a JSON object or array: its first character that is not white space is `{` or `[`. */
const JSON_START = /^\s*[[{]/;

/** A carriage return's char code (an SSE line may end with CR LF). */
const CR = 13;

/** An SSE field's value: what follows the field name and its colon (`at`), less one leading space. */
function fieldValue(line: string, at: number): string {
  return line.charCodeAt(at) === 32 ? line.slice(at + 1) : line.slice(at);
}

/** Sees each JSON-RPC message in a JSON body or an SSE stream; never throws on bad data. */
function messageInspector(contentType: string, onMessage: (m: unknown) => void): { push(b: Buffer): void; end(): void; lastEventId(): string | undefined } {
  const emit = (text: string): void => {
    // Only what can be JSON-RPC is parsed. Servers send events without JSON (the SDK's empty priming event, which
    // opens every SSE answer for resumability), and a failed parse throws: an error with a stack trace costs more
    // than the rest of the call's bookkeeping in the router.
    if (!JSON_START.test(text)) return;
    try {
      const m: unknown = JSON.parse(text);
      for (const x of Array.isArray(m) ? m : [m]) onMessage(x);
    } catch {
      // not JSON: nothing to count
    }
  };
  if (contentType.includes('text/event-stream')) {
    let pending = '';
    let data: string[] = [];
    let lastId: string | undefined;
    return {
      lastEventId: () => lastId,
      push(b) {
        pending += b.toString('utf8');
        let nl;
        // Every line of every answer passes here: string tests, not regular expressions (a third of the
        // inspector's cost was RegExp.replace).
        while ((nl = pending.indexOf('\n')) !== -1) {
          const line = pending.charCodeAt(nl - 1) === CR ? pending.slice(0, nl - 1) : pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line === '') {
            if (data.length > 0) emit(data.join('\n'));
            data = [];
          } else if (line.startsWith('data:')) data.push(fieldValue(line, 5));
          else if (line.startsWith('id:') && !line.includes('\0')) lastId = fieldValue(line, 3) || undefined;
        }
      },
      end() {
        if (data.length > 0) emit(data.join('\n'));
      },
    };
  }
  if (!contentType.includes('json')) return { push() {}, end() {}, lastEventId: () => undefined };
  const parts: Buffer[] = [];
  let size = 0;
  return {
    lastEventId: () => undefined,
    push(b) {
      size += b.length;
      if (size <= 4 * 1024 * 1024) parts.push(b); // inspect what is reasonable; forward everything
    },
    end() {
      if (size <= 4 * 1024 * 1024) emit(Buffer.concat(parts).toString('utf8'));
    },
  };
}

/** Ends a backend session with DELETE (best effort: a backend that is gone has nothing left to end). */
export function endBackendSession(url: string, headers: Record<string, string>, session: string): Promise<void> {
  return new Promise((resolve) => {
    const over = (): void => {
      clearTimeout(timer);
      resolve();
    };
    let call: BackendCall | undefined;
    const timer = setTimeout(() => {
      call?.abort();
      resolve();
    }, 5000).unref();
    try {
      call = send(backendTarget(url), 'DELETE', { ...headers, 'mcp-session-id': session }, undefined, { head() {}, data() {}, end: over, error: over });
    } catch {
      over();
    }
  });
}
