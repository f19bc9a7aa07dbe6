/**
 * One HTTP exchange with a Streamable HTTP backend: the request goes out with the client's MCP headers, the
 * response streams back to the client as it arrives, and every JSON-RPC message in it (a JSON body, or the
 * `data:` lines of an SSE stream) is shown to `onMessage` on the way, without holding the stream back.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';

const agents = { 'http:': new http.Agent({ keepAlive: true, maxSockets: 256 }), 'https:': new https.Agent({ keepAlive: true, maxSockets: 256 }) };

/** Client headers worth passing to a backend (the rest are hop-by-hop or the router's own). */
const FORWARD = ['accept', 'content-type', 'mcp-protocol-version', 'last-event-id', 'mcp-method', 'mcp-name', 'user-agent'];
/** Backend response headers worth passing back. */
const BACK = ['content-type', 'cache-control', 'mcp-protocol-version', 'x-accel-buffering', 'www-authenticate', 'retry-after'];

export interface ForwardRequest {
  url: string;
  method: 'POST' | 'GET' | 'DELETE';
  clientHeaders: IncomingHttpHeaders;
  /** The version's configured headers (credentials for the backend). */
  headers: Record<string, string>;
  backendSession?: string;
  body?: Buffer;
  /** Passed through when the router itself does not use bearer tokens. */
  forwardAuthorization: boolean;
  /**
   * ms until `forward` gives up on the backend: it then rejects with a TimeoutError, leaving `res` unended
   * (the caller says why to the client). Default: no deadline.
   */
  timeoutMs?: number;
}

/** The backend did not finish answering within `ForwardRequest.timeoutMs`. */
export class TimeoutError extends Error {}

export interface ForwardResult {
  status: number;
  /** The backend's `Mcp-Session-Id`, if it sent one. */
  backendSession?: string;
  /** The answer's content type (`text/event-stream` for a stream). */
  contentType?: string;
  /** The client went away before the answer ended (the backend's stream was closed too). */
  clientGone?: boolean;
}

/**
 * Sends `req` to the backend and streams its answer into `res`. `withHeaders` may add or change response
 * headers (the router's own session id) before they are written. `answered` tells, after each message seen,
 * whether the client has all it asked for (then its response ends). Resolves when the response has ended or
 * the client went away; rejects when the backend cannot be reached, fails, or misses `timeoutMs`.
 */
export function forward(
  req: ForwardRequest,
  res: ServerResponse,
  withHeaders: (r: ForwardResult) => Record<string, string>,
  onMessage: (m: unknown) => void,
  answered: () => boolean = () => false,
): Promise<ForwardResult> {
  const url = target(req.url);
  const headers: Record<string, string> = { ...req.headers };
  for (const h of FORWARD) {
    const v = req.clientHeaders[h];
    if (typeof v === 'string') headers[h] = v;
  }
  for (const [k, v] of Object.entries(req.clientHeaders)) if (k.startsWith('mcp-param-') && typeof v === 'string') headers[k] = v;
  if (req.forwardAuthorization && typeof req.clientHeaders.authorization === 'string') headers.authorization = req.clientHeaders.authorization;
  if (req.backendSession !== undefined) headers['mcp-session-id'] = req.backendSession;
  if (req.body) headers['content-length'] = String(req.body.length);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let done = false;
    let flush: NodeJS.Timeout | undefined;
    let upstream: http.IncomingMessage | undefined;
    let answer: ForwardResult | undefined;
    /** Marks the exchange over (once: false when it already was) and stops its timers. */
    const settle = (): boolean => {
      if (done) return false;
      done = true;
      clearTimeout(flush);
      clearTimeout(deadline);
      return true;
    };
    const deadline =
      req.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            if (!settle()) return;
            upstream?.destroy();
            out.destroy();
            reject(new TimeoutError(`did not answer within ${req.timeoutMs} ms`));
          }, req.timeoutMs).unref();
    const out = lib.request({ ...url.options, method: req.method, headers, agent: agents[url.protocol] }, (up) => {
      if (done) return void up.destroy();
      upstream = up;
      const sid = up.headers['mcp-session-id'];
      const type = up.headers['content-type'];
      const result: ForwardResult = { status: up.statusCode ?? 502, ...(typeof sid === 'string' ? { backendSession: sid } : {}), ...(typeof type === 'string' ? { contentType: type } : {}) };
      answer = result;
      const back: Record<string, string> = {};
      for (const h of BACK) {
        const v = up.headers[h];
        if (typeof v === 'string') back[h] = v;
      }
      if (typeof up.headers['content-length'] === 'string') back['content-length'] = up.headers['content-length'];
      res.writeHead(result.status, { ...back, ...withHeaders(result) });
      // A GET stream shows its headers at once. A POST's headers go out with the first chunk of its answer (one
      // write, one packet), or after a moment when the answer is slow to start.
      flush = setTimeout(() => res.flushHeaders(), req.method === 'GET' ? 0 : HEADER_DELAY_MS);
      const inspect = messageInspector(back['content-type'] ?? '', onMessage);
      const finish = (last?: Buffer): void => {
        settle();
        res.end(last);
        resolve(result);
      };
      up.on('data', (chunk: Buffer) => {
        if (done) return; // after the answer: nothing left for the client (see below)
        inspect.push(chunk);
        // Every request of the POST is answered: the client's stream ends now, with its last chunk, rather than
        // a round trip later when the backend ends its stream (the backend's rest is drained, the connection kept).
        if (answered()) {
          finish(chunk);
          const drain = setTimeout(() => up.destroy(), DRAIN_MS).unref();
          up.once('close', () => clearTimeout(drain));
        } else res.write(chunk);
      });
      up.on('end', () => {
        if (done) return;
        inspect.end();
        finish();
      });
      up.on('error', (e) => {
        if (!settle()) return;
        res.destroy(e);
        reject(e);
      });
    });
    out.on('error', (e) => {
      if (settle()) reject(e);
    });
    // A client that goes away, before the answer or during it, ends the exchange with the backend too (for a
    // stream, that is the cancellation). 499: the client closed the request.
    res.on('close', () => {
      if (!settle()) return;
      if (upstream && !upstream.complete) upstream.destroy();
      out.destroy();
      resolve({ ...(answer ?? { status: 499 }), clientGone: true });
    });
    out.end(req.body);
  });
}

/** A backend URL as request options, parsed once per URL. */
type Target = { protocol: 'http:' | 'https:'; options: { protocol: string; hostname: string; port: string; path: string; auth?: string } };
const targets = new Map<string, Target>();
function target(url: string): Target {
  let t = targets.get(url);
  if (!t) {
    const u = new URL(url);
    const protocol = u.protocol === 'https:' ? 'https:' : 'http:';
    const auth = u.username ? `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` : undefined;
    t = { protocol, options: { protocol, hostname: u.hostname.replace(/^\[|\]$/g, ''), port: u.port, path: u.pathname + u.search, ...(auth === undefined ? {} : { auth }) } };
    if (targets.size > 1000) targets.clear();
    targets.set(url, t);
  }
  return t;
}

/** How long a POST's response headers may wait for the first chunk of its body, ms. */
const HEADER_DELAY_MS = 20;
/** How long a backend may take to end a stream whose every answer has been passed on, ms. */
const DRAIN_MS = 5_000;

/** Sees each JSON-RPC message in a JSON body or an SSE stream; never throws on bad data. */
function messageInspector(contentType: string, onMessage: (m: unknown) => void): { push(b: Buffer): void; end(): void } {
  const emit = (text: string): void => {
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
    return {
      push(b) {
        pending += b.toString('utf8');
        let nl;
        while ((nl = pending.indexOf('\n')) !== -1) {
          const line = pending.slice(0, nl).replace(/\r$/, '');
          pending = pending.slice(nl + 1);
          if (line === '') {
            if (data.length > 0) emit(data.join('\n'));
            data = [];
          } else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
      },
      end() {
        if (data.length > 0) emit(data.join('\n'));
      },
    };
  }
  if (!contentType.includes('json')) return { push() {}, end() {} };
  const parts: Buffer[] = [];
  let size = 0;
  return {
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
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const r = lib.request(u, { method: 'DELETE', headers: { ...headers, 'mcp-session-id': session }, agent: agents[u.protocol as 'http:' | 'https:'], timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    r.on('error', () => resolve());
    r.on('timeout', () => r.destroy());
    r.end();
  });
}
