/**
 * The router's HTTP/1.1 client for Streamable HTTP backends: one request, its answer streamed to handlers.
 * Plain `http:` backends are spoken to over a keep-alive pool of raw sockets, with the answer parsed here
 * (status line, headers, then a body framed by Content-Length, chunked transfer coding, or the connection's
 * end). Why not node:http: on the router's hot path its request and response objects, the agent's next-tick
 * socket hand-over and the stream machinery cost more than the rest of the hop (a request reached the backend
 * about 150 us sooner on a 2-core machine, measured with a trivial backend). `https:` backends go through
 * node:https behind the same interface, where TLS costs more than any of that.
 * Nothing is retried: a request is sent once (a tool call must not run twice).
 */
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { isRouterOwnedHeader } from '../domain/backend-headers.js';

export interface BackendTarget {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  /** Path and query. */
  path: string;
  /** The Host header: host and port as in the URL. */
  host: string;
  /** `user:password` from the URL, if any (sent as Basic authorization unless the request has its own). */
  auth?: string;
}

/** A backend's answer, before its body: header names in lower case, repeated headers joined with ", ". */
export interface BackendHead {
  status: number;
  headers: Record<string, string>;
}

/** Called in this order: `head` once, `data` for each piece of the body, then `end`; or `error` at any point. */
export interface BackendHandlers {
  head(h: BackendHead): void;
  data(chunk: Buffer): void;
  /** The pieces that came in one read have all been passed to `data`, and the answer goes on. */
  flush?(): void;
  end(): void;
  error(e: Error): void;
}

export interface BackendCall {
  /** Stops the exchange and closes its connection; no handler is called after this. */
  abort(): void;
  /** Stops reading the answer until `resume` (the client reads slower than the backend sends). */
  pause(): void;
  resume(): void;
  /** The whole answer has been received. */
  readonly complete: boolean;
}

const targets = new Map<string, BackendTarget>();

/** A backend URL as a target, parsed once per URL. Throws on a URL that is not http: or https:. */
export function backendTarget(url: string): BackendTarget {
  let t = targets.get(url);
  if (!t) {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`unsupported backend URL ${url}: use http: or https:`);
    const auth = u.username ? `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` : undefined;
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    t = { protocol: u.protocol, hostname: u.hostname.replace(/^\[|\]$/g, ''), port, path: u.pathname + u.search, host: u.host, ...(auth === undefined ? {} : { auth }) };
    if (targets.size > 1000) targets.clear();
    targets.set(url, t);
  }
  return t;
}

/** The backend's answer broke HTTP/1.1 (as opposed to the connection failing): the request fails with this. */
export class MalformedAnswerError extends Error {}

/**
 * Sends one request. `headers` are sent with their names as written, merged case-insensitively: of names that
 * differ only in case, the last one given is sent (callers put the version's configured headers after the
 * client's, so a configured `Authorization` replaces the client's `authorization`). Host, Content-Length and
 * Authorization from the URL are added; the names the client writes itself or that concern one connection
 * (Host, Content-Length, Transfer-Encoding, the hop-by-hop ones) are never taken from `headers`. Throws at once on
 * a header name or value with a character HTTP does not allow there (a line break, say): nothing is sent.
 */
export function send(t: BackendTarget, method: string, headers: Record<string, string>, body: Buffer | undefined, h: BackendHandlers, connectTimeoutMs = CONNECT_TIMEOUT_MS): BackendCall {
  const merged = mergeHeaders(headers);
  return t.protocol === 'https:' ? viaNodeHttps(t, method, merged, body, h, connectTimeoutMs) : new RawExchange(t, method, merged, body, h, connectTimeoutMs);
}

/** `headers` checked, without router-owned names, one entry per name whatever its case (the last given wins). */
function mergeHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const written = new Map<string, string>(); // lower-case name -> the name in `out`
  for (const k in headers) {
    const v = headers[k]!;
    if (BAD_HEADER.test(k) || BAD_VALUE.test(v)) throw new Error(`invalid character in header "${k}"`);
    const lower = k.toLowerCase();
    if (isRouterOwnedHeader(lower)) continue;
    const before = written.get(lower);
    if (before !== undefined) delete out[before];
    written.set(lower, k);
    out[k] = v;
  }
  return out;
}

/** Closes every idle pooled connection (the router calls this when it stops). */
export function closeIdleBackendConnections(): void {
  for (const list of idle.values()) for (const c of list.splice(0)) c.socket.destroy();
  idle.clear();
}

const BAD_HEADER = /[^\t\x20-\x7e]|[:\s]/;
/** A header name: an HTTP token (no white space before the colon, no separators). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Longest status line plus headers accepted, bytes. */
const MAX_HEAD_BYTES = 64 * 1024;
/** How long an unused connection is kept, ms (less when the backend says it keeps them for less). */
const IDLE_MS = 4_000;
/** Unused connections kept per backend. */
const MAX_IDLE = 256;

/** A pooled connection; its listeners stay for its life and hand its events to the exchange it carries. */
interface Conn {
  socket: net.Socket;
  key: string;
  /** The exchange using it; none while it idles in the pool. */
  current?: RawExchange;
  idleTimer?: NodeJS.Timeout;
}

/** How long a backend may take to accept a new connection, ms, by default (a host that is down may never answer). */
export const CONNECT_TIMEOUT_MS = 5_000;

/** Fails a connection that is still being made after `ms` (a host that is down drops the attempt, never refuses it). */
function connectDeadline(socket: net.Socket, ms: number, fail: (e: Error) => void): void {
  const timer = setTimeout(() => fail(new Error(`did not accept a connection within ${ms} ms`)), ms);
  socket.once('connect', () => clearTimeout(timer)).once('close', () => clearTimeout(timer));
}

/** Unused connections per backend (host:port), most recently used last. */
const idle = new Map<string, Conn[]>();

function connection(t: BackendTarget, connectTimeoutMs: number): Conn {
  const key = `${t.hostname}:${t.port}`;
  const list = idle.get(key);
  while (list && list.length > 0) {
    const c = list.pop()!;
    clearTimeout(c.idleTimer);
    if (!c.socket.destroyed && c.socket.writable) {
      c.socket.ref();
      return c;
    }
  }
  const c: Conn = { socket: net.connect({ host: t.hostname, port: t.port, noDelay: true }), key };
  connectDeadline(c.socket, connectTimeoutMs, (e) => c.socket.destroy(e));
  // Anything from an idle connection (it closing, an error, stray bytes) retires it.
  c.socket
    .on('data', (d: Buffer) => (c.current ? c.current.onData(d) : retire(c)))
    .on('end', () => (c.current ? c.current.onEnd() : retire(c)))
    .on('close', () => (c.current ? c.current.onEnd() : retire(c)))
    .on('error', (e: Error) => (c.current ? c.current.onError(e) : retire(c)));
  return c;
}

/** Puts a connection whose exchange ended cleanly back in the pool, until it idles out or the backend closes it. */
function release(c: Conn, keepMs: number): void {
  const list = idle.get(c.key) ?? [];
  if (list.length >= MAX_IDLE || keepMs <= 0) return void c.socket.destroy();
  idle.set(c.key, list);
  list.push(c);
  c.socket.resume(); // an exchange may have paused it; idle, it must still notice the backend closing it
  c.socket.unref();
  c.idleTimer = setTimeout(() => retire(c), keepMs).unref();
}

function retire(c: Conn): void {
  clearTimeout(c.idleTimer);
  c.socket.destroy();
  const list = idle.get(c.key);
  const i = list?.indexOf(c) ?? -1;
  if (i !== -1) list!.splice(i, 1);
}

type State = 'head' | 'length' | 'size' | 'chunk' | 'chunk-end' | 'trailer' | 'until-close';

/** One request on a pooled raw connection, and the parse of its answer. */
class RawExchange implements BackendCall {
  complete = false;
  private finished = false;
  private readonly conn: Conn;
  private pending: Buffer | undefined;
  private state: State = 'head';
  private left = 0;
  private keepAlive = true;
  private keepMs = IDLE_MS;

  constructor(t: BackendTarget, private readonly method: string, headers: Record<string, string>, body: Buffer | undefined, private readonly h: BackendHandlers, connectTimeoutMs: number) {
    this.conn = connection(t, connectTimeoutMs);
    this.conn.current = this;
    const s = this.conn.socket;
    let head = `${method} ${t.path} HTTP/1.1\r\nHost: ${t.host}\r\n`;
    for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
    if (t.auth !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) head += `Authorization: Basic ${Buffer.from(t.auth).toString('base64')}\r\n`;
    if (body !== undefined) head += `Content-Length: ${body.length}\r\n`;
    s.cork();
    s.write(`${head}\r\n`, 'latin1');
    if (body !== undefined && body.length > 0) s.write(body);
    s.uncork();
  }

  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.detach();
    this.conn.socket.destroy();
  }

  pause(): void {
    if (!this.finished) this.conn.socket.pause();
  }

  resume(): void {
    if (!this.finished) this.conn.socket.resume();
  }

  /** The connection's events, while this exchange has it. */
  onData(chunk: Buffer): void {
    if (this.finished) return;
    this.pending = this.pending === undefined || this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    try {
      this.parse();
    } catch (e) {
      return this.fail(e as Error);
    }
    if (!this.finished) this.h.flush?.();
  }

  onEnd(): void {
    if (this.finished) return;
    if (this.state === 'until-close') return this.done();
    this.fail(new Error(this.state === 'head' && this.pending === undefined ? 'the backend closed the connection without answering' : 'the backend closed the connection before its answer ended'));
  }

  onError(e: Error): void {
    this.fail(e);
  }

  /** Consumes what can be consumed of `pending`, calling the handlers; stops when it needs more bytes. */
  private parse(): void {
    while (!this.finished) {
      const buf = this.pending!;
      switch (this.state) {
        case 'head': {
          const at = buf.indexOf('\r\n\r\n');
          if (at === -1) {
            if (buf.length > MAX_HEAD_BYTES) throw new MalformedAnswerError(`the backend's response head is over ${MAX_HEAD_BYTES} bytes`);
            return;
          }
          this.pending = buf.subarray(at + 4);
          this.head(buf.toString('latin1', 0, at));
          continue;
        }
        case 'length':
        case 'chunk': {
          if (buf.length === 0) return;
          const take = Math.min(this.left, buf.length);
          this.left -= take;
          this.pending = buf.subarray(take);
          this.h.data(take === buf.length ? buf : buf.subarray(0, take));
          if (this.left === 0) {
            if (this.state === 'length') return this.done();
            this.state = 'chunk-end';
          }
          continue;
        }
        case 'chunk-end':
          if (buf.length < 2) return;
          if (buf[0] !== 13 || buf[1] !== 10) throw new MalformedAnswerError('the backend sent a malformed chunk');
          this.pending = buf.subarray(2);
          this.state = 'size';
          continue;
        case 'size': {
          const at = buf.indexOf('\r\n');
          if (at === -1) {
            if (buf.length > 1024) throw new MalformedAnswerError('the backend sent a malformed chunk size');
            return;
          }
          const m = /^([0-9a-fA-F]{1,12})[\t ]*(;.*)?$/.exec(buf.toString('latin1', 0, at));
          if (!m) throw new MalformedAnswerError('the backend sent a malformed chunk size');
          this.pending = buf.subarray(at + 2);
          this.left = parseInt(m[1]!, 16);
          this.state = this.left === 0 ? 'trailer' : 'chunk';
          continue;
        }
        case 'trailer': {
          const at = buf.indexOf('\r\n');
          if (at === -1) {
            if (buf.length > MAX_HEAD_BYTES) throw new MalformedAnswerError('the backend sent an oversized trailer');
            return;
          }
          this.pending = buf.subarray(at + 2);
          if (at === 0) return this.done();
          continue; // a trailer field: not passed on
        }
        case 'until-close':
          if (buf.length > 0) {
            this.pending = undefined;
            this.h.data(buf);
          }
          return;
      }
    }
  }

  /** Reads a status line and headers, and sets how the body is framed (an interim 1xx answer is skipped). */
  private head(text: string): void {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0]!);
    if (!m) throw new MalformedAnswerError(`the backend did not answer in HTTP/1.x (${JSON.stringify(lines[0]!.slice(0, 40))})`);
    const status = Number(m[2]);
    if (status === 101) throw new MalformedAnswerError('the backend switched protocols');
    if (status < 200) return;
    const headers = Object.create(null) as Record<string, string>; // a backend's header names are only data
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      // A folded line (obs-fold) continues the previous header; read as a header of its own, it would smuggle one
      // in. HTTP/1.1 lets a client refuse it, which is the safe reading for a router.
      if (line.startsWith(' ') || line.startsWith('\t')) throw new MalformedAnswerError(`the backend sent a folded header line (obs-fold): ${JSON.stringify(line.slice(0, 40))}`);
      const colon = line.indexOf(':');
      if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) throw new MalformedAnswerError(`the backend sent a malformed header line (${JSON.stringify(line.slice(0, 40))})`);
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const connection = (headers.connection ?? '').toLowerCase();
    this.keepAlive = m[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    const hint = /timeout=(\d+)/i.exec(headers['keep-alive'] ?? '');
    if (hint) this.keepMs = Math.min(IDLE_MS, (Number(hint[1]) - 1) * 1000);
    const te = headers['transfer-encoding'];
    const bodiless = this.method === 'HEAD' || status === 204 || status === 304;
    if (bodiless) this.left = 0;
    else if (te !== undefined) {
      // Transfer-Encoding overrides a Content-Length beside it (RFC 9112 section 6.3): the length is not passed on
      // (the client would get a length that does not describe the body it is sent), and a connection whose
      // framing two headers disagree on is not used again.
      if (headers['content-length'] !== undefined) {
        delete headers['content-length'];
        this.keepAlive = false;
      }
      if (/(^|,)\s*chunked\s*$/i.test(te)) this.state = 'size';
      else this.untilClose();
    } else if (headers['content-length'] !== undefined) {
      if (!/^\d+$/.test(headers['content-length'])) throw new MalformedAnswerError(`the backend sent an invalid Content-Length (${headers['content-length']})`);
      this.left = Number(headers['content-length']);
      this.state = 'length';
    } else this.untilClose();
    this.h.head({ status, headers });
    if (bodiless || (this.state === 'length' && this.left === 0)) this.done();
  }

  private untilClose(): void {
    this.state = 'until-close';
    this.keepAlive = false;
  }

  private done(): void {
    if (this.finished) return;
    this.finished = true;
    this.complete = true;
    this.detach();
    // Bytes after the answer mean the connection is out of step: it is not used again.
    if (this.keepAlive && (this.pending === undefined || this.pending.length === 0)) release(this.conn, this.keepMs);
    else this.conn.socket.destroy();
    this.h.end();
  }

  private fail(e: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.detach();
    this.conn.socket.destroy();
    this.h.error(e);
  }

  private detach(): void {
    if (this.conn.current === this) this.conn.current = undefined;
  }
}

const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256 });

/** The same exchange over node:https. */
function viaNodeHttps(t: BackendTarget, method: string, headers: Record<string, string>, body: Buffer | undefined, h: BackendHandlers, connectTimeoutMs: number): BackendCall {
  let finished = false;
  let answer: IncomingMessage | undefined;
  const call = {
    complete: false,
    abort: () => void ((finished = true), out.destroy()),
    pause: () => void answer?.pause(),
    resume: () => void answer?.resume(),
  };
  const fail = (e: Error): void => {
    if (finished) return;
    finished = true;
    out.destroy();
    h.error(e);
  };
  const all: Record<string, string> = { ...headers };
  if (body !== undefined) all['content-length'] = String(body.length);
  const out = https.request({ hostname: t.hostname, port: t.port, path: t.path, method, headers: all, agent: httpsAgent, ...(t.auth === undefined ? {} : { auth: t.auth }) }, (res) => {
    if (finished) return void res.destroy();
    answer = res;
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
    if (flat['transfer-encoding'] !== undefined) delete flat['content-length']; // as on the raw path (node refuses both, today)
    h.head({ status: res.statusCode ?? 502, headers: flat });
    res.on('data', (c: Buffer) => {
      if (finished) return;
      h.data(c);
      if (!finished) h.flush?.();
    });
    res.on('end', () => {
      if (finished) return;
      finished = true;
      call.complete = true;
      h.end();
    });
    res.on('error', fail);
    res.on('close', () => {
      if (!res.complete) fail(new Error('the backend closed the connection before its answer ended'));
    });
  });
  out.on('error', fail);
  out.on('socket', (socket) => {
    if (socket.connecting) connectDeadline(socket, connectTimeoutMs, fail); // not for a kept-alive connection
  });
  out.end(body);
  return call;
}
