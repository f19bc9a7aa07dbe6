/**
 * The messages of one stdio proxy session, both ways, ids unchanged: the client's requests go to the session's
 * current backend and wait in the ledger (sessions/request-ledger.ts: deadlines, cancellation, metrics, errors
 * naming server and version); the backends' requests to the client (sampling, roots, ...) are remembered, so
 * each answer reaches the backend that asked, even after the session moved; the proxy's own requests (the
 * replayed initialize, list reads) are answered out of the stream.
 */
import { answerTooLarge, notRunning } from '../protocol/router-errors.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import { PrivateRequests, type Answer } from './private-requests.js';
import type { ProxyBackend } from './proxy-backends.js';
import { RequestLedger, requestKey as key } from './request-ledger.js';

type Id = string | number;
type Msg = { jsonrpc?: string; id?: Id | null; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: unknown };

/** The ids under which a server request goes to the client when its own id is taken by another backend's. */
const ASK_ALIAS = 'mcp-rollout-ask:';

export interface ExchangeDeps {
  name: string;
  metrics: VersionMetrics;
  /** The client's side (the stdio front). */
  client: { send(m: unknown): void; sendText(text: string): void };
  /** ms a request may wait for its answer. */
  requestTimeoutMs: number;
  /** Largest message accepted either way, bytes (for the error of an answer over it). */
  maxMessageBytes: number;
  /** The session's backend now. */
  current(): ProxyBackend;
  /** The move under way, if any: the client's messages wait for it. */
  moving(): Promise<void> | undefined;
  /** True for the backend kept warm after a promotion: only its answers reach the client. */
  isStandby(b: ProxyBackend): boolean;
  ended(): boolean;
}

export class ProxyExchange {
  /** The client's requests waiting for an answer, each with the backend it went to. */
  private readonly pending: RequestLedger<ProxyBackend>;
  /** Requests a backend sent the client (sampling, roots, ...), so the answer reaches that backend. */
  private readonly asked = new Map<string, ProxyBackend>();
  /** Ids we gave server requests that clashed with another backend's (ours -> the backend's own). */
  private readonly aliases = new Map<string, Id>();
  private aliasSeq = 0;
  private readonly own = new PrivateRequests();
  /** The client's initialize params, replayed on the backend a session moves to. */
  initializeParams: Record<string, unknown> | undefined;
  /** The client said `notifications/initialized` (a moved session's backend is told so too, and lists announced). */
  initialized = false;
  /** Messages over the size limit from backends that answered nobody waiting, dropped. */
  noise = 0;

  constructor(private readonly deps: ExchangeDeps) {
    this.pending = new RequestLedger<ProxyBackend>(deps.name, {
      book: (b) => deps.metrics.request(deps.name, b.version, b.method, b.latencyMs, b.outcome),
      reply: (error) => deps.client.send(error),
    });
  }

  /** A message (or batch) from the client; held back while the session moves, then sent in order. */
  fromClient(msg: Msg | Msg[], text: string): void {
    const moving = this.deps.moving();
    if (moving) {
      void moving.then(() => this.forward(msg, text));
      return;
    }
    this.forward(msg, text);
  }

  /**
   * The client sent a message over the limit (`what` says so). If it answered a server request, that server
   * gets an error (it would wait forever); otherwise the client gets -32600 under the message's id when one
   * could be seen.
   */
  clientOversize(id: Id | null | undefined, what: string): void {
    const asker = id === undefined || id === null ? undefined : this.asked.get(key(id));
    if (asker && id !== undefined && id !== null) {
      this.asked.delete(key(id));
      if (asker.upstream?.alive) asker.upstream.send({ jsonrpc: '2.0', id, error: { code: -32603, message: `the client's answer was dropped by mcp-rollout proxy: ${what}` } });
      return;
    }
    this.deps.client.send({ jsonrpc: '2.0', id: id ?? null, error: { code: -32600, message: what } });
  }

  /** A backend sent a message over the limit: dropped; if it answered a waiting request, that request fails now. */
  backendOversize(b: ProxyBackend, bytes: number, id: Id | null | undefined): void {
    if (id !== undefined && id !== null && this.pending.get(id)?.context === b) {
      this.pending.failOne(id, answerTooLarge(this.deps.name, b.version, bytes, this.deps.maxMessageBytes), { error: true });
      return;
    }
    this.noise++;
  }

  /** A message (or batch) from backend `b`, passed on as its line where it goes to the client unchanged. */
  fromBackend(b: ProxyBackend, raw: unknown, text?: string): void {
    if (Array.isArray(raw)) {
      for (const m of raw) this.account(b, m as Msg);
      return this.deps.client.sendText(text ?? JSON.stringify(raw));
    }
    const m = raw as Msg;
    if (this.own.take(m as Answer)) return;
    // A standby backend's own news (list changes, logs) is not the session's: it speaks only to finish requests.
    if (this.deps.isStandby(b) && m.method !== undefined && (m.id === undefined || m.id === null) && !this.busy(b)) return;
    if (m.method !== undefined && m.id !== undefined && m.id !== null) {
      const other = this.asked.get(key(m.id));
      if (other !== undefined && other !== b) {
        // During a move, the old and the new backend may each ask the client something under the same id:
        // this one goes out under an id of ours, and its answer comes back to it under its own.
        const alias = `${ASK_ALIAS}${++this.aliasSeq}`;
        this.aliases.set(key(alias), m.id);
        this.asked.set(key(alias), b);
        return this.deps.client.sendText(JSON.stringify({ ...m, id: alias }));
      }
      this.asked.set(key(m.id), b);
    }
    if (!this.account(b, m)) return; // a late answer to a request already failed: the client has its error
    this.deps.client.sendText(text ?? JSON.stringify(m));
  }

  /** A request of the proxy's own to `b` (private id); resolves undefined on no answer within `timeoutMs` (ms). */
  request(b: ProxyBackend, method: string, params: Record<string, unknown>, timeoutMs: number): Promise<Answer | undefined> {
    return this.own.request((m) => b.upstream!.send(m), method, params, timeoutMs);
  }

  /** Every request still waiting on `b` gets an error now. */
  failPending(b: ProxyBackend, message: string): void {
    this.pending.failAll(message, { transportFailure: true }, (p) => p.context === b);
  }

  /** A request `b` refused unprocessed goes to the session's backend now, if its client still waits for it. */
  sendAgain(b: ProxyBackend, refused: unknown): void {
    const m = refused as Msg;
    if (this.deps.ended() || m.method === undefined || m.id === undefined || m.id === null) return; // a notification or answer for the old session: moot
    const p = this.pending.get(m.id);
    if (p?.context !== b) return;
    const next = this.deps.current();
    p.context = next;
    p.version = next.version;
    if (!next.upstream?.alive) return void this.pending.failOne(m.id, next.failure ?? notRunning(this.deps.name, next.version), { transportFailure: true });
    next.upstream.send(m);
  }

  /** True while `b` has requests of the client to answer. */
  busy(b: ProxyBackend): boolean {
    return this.pending.some((p) => p.context === b);
  }

  /** `b` is gone (or going): nobody waits for its questions' answers. */
  forget(b: ProxyBackend): void {
    for (const [k, asker] of this.asked) {
      if (asker !== b) continue;
      this.asked.delete(k);
      this.aliases.delete(k);
    }
  }

  /** The session ended: no request waits any more (no deadline error follows). */
  clear(): void {
    this.pending.clear();
  }

  private forward(msg: Msg | Msg[], text: string): void {
    if (this.deps.ended()) return;
    const current = this.deps.current();
    if (!Array.isArray(msg) && msg.method === undefined && msg.id !== undefined && msg.id !== null) {
      // An answer to a server request: it goes to the backend that asked, even if the session moved since.
      const asker = this.asked.get(key(msg.id));
      this.asked.delete(key(msg.id));
      const original = this.aliases.get(key(msg.id));
      if (asker && original !== undefined) {
        this.aliases.delete(key(msg.id));
        if (asker.upstream?.alive) asker.upstream.send({ ...msg, id: original });
        return;
      }
      if (asker && asker !== current) {
        if (asker.upstream?.alive) asker.upstream.send(msg, text);
        return;
      }
    }
    if (!Array.isArray(msg) && msg.method === 'notifications/cancelled') {
      // A request still running on the old backend after a move is cancelled there.
      const requestId = msg.params?.requestId;
      const running = typeof requestId === 'string' || typeof requestId === 'number' ? this.pending.get(requestId)?.context : undefined;
      if (running && running !== current) {
        this.pending.cancel(requestId);
        if (running.upstream?.alive) running.upstream.send(msg, text);
        return;
      }
    }
    const b = current;
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      if (m.method === 'initialize' && m.params) this.initializeParams = m.params;
      if (m.method === 'notifications/initialized') this.initialized = true;
      // The client gave up on it: no deadline error will follow, and a late answer is dropped.
      if (m.method === 'notifications/cancelled') this.pending.cancel(m.params?.requestId);
      if (m.method !== undefined && m.id !== undefined && m.id !== null) this.pending.open(m.id, m.method, { version: b.version, deadlineMs: this.deps.requestTimeoutMs, context: b });
    }
    if (!b.upstream?.alive) return this.failPending(b, b.failure ?? notRunning(this.deps.name, b.version));
    b.upstream.send(msg, text);
  }

  /** Books a backend response against its request; false when nobody waits for it any more. */
  private account(b: ProxyBackend, m: Msg): boolean {
    if (m.method !== undefined || m.id === undefined || m.id === null) return true; // requests and notifications pass
    const booked = this.pending.settle(m);
    if (!booked) return false;
    if (booked.method === 'initialize' && m.result && typeof m.result.protocolVersion === 'string') b.upstream?.negotiated?.(m.result.protocolVersion);
    return true;
  }
}
