/**
 * The stdio proxy: to its client it is the MCP server `<name>`; behind it, one version chosen by weight when
 * the session starts. Every message passes both ways without the proxy knowing its method; ids pass
 * unchanged. The proxy only steps in where the backend fails its client:
 * - a message that is not JSON gets -32700; one over the size limit gets -32600;
 * - a backend that cannot start, dies, or does not answer within the deadline: every affected request gets
 *   a JSON-RPC error naming the server and the version, at once;
 * - the pinned version is rolled back or removed, its process died, its HTTP backend forgot the session (a 404:
 *   it restarted; the requests it refused are sent again once the session moved), or (with `onPromote: 'move'`,
 *   the default)
 *   another version was promoted: the session moves to the version now chosen by weight (the decision is
 *   domain/pin-decision.ts, shared with the HTTP router), its `initialize` is replayed, and list_changed tells
 *   the client what changed; the old backend finishes its requests (and gets the answers to the requests it
 *   sent the client) first.
 * - the client goes away (input ends, output fails, or `stop()`): every backend it had is ended.
 */
import type { Readable, Writable } from 'node:stream';
import { CrashThrottle } from '../domain/crash-throttle.js';
import { LISTS, listChangedNotices, noticesForCapabilities, type Surface } from '../domain/list-changes.js';
import { decidePin, type Observed, type PinDecision, type PromotionPolicy } from '../domain/pin-decision.js';
import { SessionReason } from '../domain/reasons.js';
import { chooseByWeight } from '../domain/weighted-choice.js';
import type { VersionRecord } from '../domain/types.js';
import { answerTooLarge, couldNotStart, noVersionCarriesTraffic, notRestartedAfterRestarts, notRunning, versionLabel } from '../protocol/router-errors.js';
import { LineSplitter } from '../protocol/line-splitter.js';
import { peekId } from '../protocol/peek-id.js';
import type { LiveView } from '../registry/live-view.js';
import { RequestLedger, requestKey as key } from '../sessions/request-ledger.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import { Lifeline } from '../backends/lifeline.js';
import { StdioUpstream } from '../backends/stdio-upstream.js';
import type { Upstream } from '../backends/upstream.js';

export interface ProxyOptions {
  /** ms a request may wait for its answer (default 300000). */
  requestTimeoutMs: number;
  /** Largest message accepted either way, bytes (default 4 MiB). */
  maxMessageBytes: number;
  /** Draws in [0, 1) for the weighted choice (seedable). */
  draw: () => number;
  /** Restarts allowed within a minute after crashes, before requests just get errors (default 3). */
  maxRestartsPerMinute: number;
  /** Where a backend's stderr goes (default: ours). */
  stderr?: (chunk: Buffer) => void;
  /** One line about what the proxy did on its own (a session moved); default: nothing. */
  notice?: (text: string) => void;
  /**
   * Said after `unknown server "<name>"` when the registry does not define the server (where it looked, how
   * to point the proxy elsewhere): a proxy started in the wrong directory must say so, not just fail.
   */
  unknownServerHint?: () => string;
  /**
   * Watch stdio backends from a lifeline process that ends their groups if this process dies without doing
   * so (SIGKILL, a crash); default true. See lifeline.ts.
   */
  lifeline: boolean;
  /**
   * After the session moves off a version that was made inactive (a promotion of another), its backend stays
   * up, idle, this long (ms; default 10 min): a rollback within it moves the session back at once, to the
   * very process it left. 0 turns this off.
   */
  rollbackWindowMs: number;
  /**
   * When another version is promoted: `move` (default) takes the session to the new blue at once (a stdio
   * session's backend is a whole process held for one client); `drain` keeps it on its version until it ends.
   */
  onPromote: PromotionPolicy;
}

export const DEFAULT_PROXY_OPTIONS: ProxyOptions = {
  requestTimeoutMs: 300_000,
  maxMessageBytes: 4 * 1024 * 1024,
  draw: Math.random,
  maxRestartsPerMinute: 3,
  lifeline: true,
  rollbackWindowMs: 600_000,
  onPromote: 'move',
};

type Id = string | number;
type Msg = { jsonrpc?: string; id?: Id | null; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: unknown };

interface Backend {
  version: string;
  upstream?: Upstream;
  /** Why it could not start (set instead of `upstream`). */
  failure?: string;
  startedAt: number;
  /** Set once we began ending it (so it is ended, and counted as ended, once). */
  closing?: Promise<void>;
}

const REPLAY = 'mcp-rollout:';
/** The ids under which a server request goes to the client when its own id is taken by another backend's. */
const ASK_ALIAS = 'mcp-rollout-ask:';

export class StdioProxy {
  private current: Backend | undefined;
  /** The client's requests waiting for an answer, each with the backend it went to. */
  private readonly pending: RequestLedger<Backend>;
  /** Backends whose process or connection is up: the current one and any old one finishing its work. */
  private readonly live = new Set<Backend>();
  /** The backend the session left at a promotion, kept warm for the rollback window. */
  private standby: { backend: Backend; timer: NodeJS.Timeout } | undefined;
  /** Requests a backend sent the client (sampling, roots, ...), so the answer reaches that backend. */
  private readonly asked = new Map<string, Backend>();
  /** Ids we gave server requests that clashed with another backend's (ours -> the backend's own). */
  private readonly aliases = new Map<string, Id>();
  private aliasSeq = 0;
  /** Non-JSON lines from backends already gone. */
  private goneNoise = 0;
  private readonly onRegistryChange = (): void => void this.checkPinned();
  private initializeParams: Record<string, unknown> | undefined;
  private initialized = false;
  private privateSeq = 0;
  private readonly privateWaiters = new Map<string, (m: Msg) => void>();
  private readonly restarts: CrashThrottle;
  private migrating: Promise<void> | undefined;
  private ended = false;
  private done!: () => void;
  /** Lines from the backend that were not JSON (dropped). */
  noise = 0;
  private readonly lifeline: Lifeline | undefined;

  constructor(
    private readonly name: string,
    private readonly view: LiveView,
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly metrics: VersionMetrics,
    private readonly opts: ProxyOptions = DEFAULT_PROXY_OPTIONS,
  ) {
    this.lifeline = opts.lifeline ? new Lifeline() : undefined;
    this.restarts = new CrashThrottle(opts.maxRestartsPerMinute);
    this.pending = new RequestLedger<Backend>(name, {
      book: (b) => this.metrics.request(this.name, b.version, b.method, b.latencyMs, b.outcome),
      reply: (error) => this.toClient(error),
    });
  }

  /** Serves the client until its input ends; resolves once every backend is gone. */
  async run(): Promise<void> {
    const finished = new Promise<void>((resolve) => (this.done = resolve));
    this.current = await this.startBackend(this.choose());
    // Once on stderr too: a client may show only the first error of a failed start, or none. The proxy stays:
    // every request gets this error (the client shows it) until the registry changes or the client goes.
    if (this.current.failure !== undefined) this.opts.notice?.(`every request will fail: ${this.current.failure}`);
    if (this.ended) {
      // stop() came while the backend was starting.
      await this.closeBackend(this.current);
      this.lifeline?.close();
      return;
    }
    this.view.on('change', this.onRegistryChange);
    // The client's reader is gone (EPIPE): nobody is left to serve.
    this.output.on('error', () => void this.shutdown());
    const lines = new LineSplitter(this.opts.maxMessageBytes, {
      line: (text) => this.fromClient(text),
      oversize: (bytes, head, tail) => this.clientOversize(bytes, peekId(head, tail)),
    });
    this.input.on('data', (c: Buffer) => lines.push(c));
    this.input.on('end', () => {
      lines.end();
      void this.shutdown();
    });
    this.input.on('error', () => void this.shutdown());
    await finished;
  }

  /** Ends the session as if the client had gone: every backend is ended; `run()` then resolves. */
  async stop(): Promise<void> {
    await this.shutdown();
  }

  /** Lines that were not JSON (or were over the size limit) on the backends' stdout, dropped, so far. */
  backendNoise(): number {
    let n = this.noise + this.goneNoise;
    for (const b of this.live) n += b.upstream?.noise ?? 0;
    return n;
  }

  /** The version a new (or moved) session gets, or undefined when none carries traffic. */
  private choose(): VersionRecord | undefined {
    const server = this.view.get(this.name);
    return server ? chooseByWeight(server.versions, this.opts.draw()) : undefined;
  }

  private label(version: string): string {
    return versionLabel(this.name, version);
  }

  /** Starts a backend for `record`; `restart`: in place of one that died (counted as such). */
  private async startBackend(record: VersionRecord | undefined, restart = false): Promise<Backend> {
    if (!record) {
      const known = this.view.get(this.name) !== undefined;
      const hint = this.opts.unknownServerHint?.();
      const unknown = `unknown server "${this.name}"${hint === undefined ? '' : `: ${hint}`}`;
      return { version: '-', startedAt: Date.now(), failure: known ? noVersionCarriesTraffic(this.name) : unknown };
    }
    const b: Backend = { version: record.version, startedAt: Date.now() };
    const label = this.label(record.version);
    const events = {
      message: (m: unknown, text?: string) => this.fromBackend(b, m, text),
      close: (reason: string, unexpected: boolean) => {
        this.forget(b);
        if (record.type === 'stdio') this.metrics.processEnded(this.name, record.version);
        if (unexpected) void this.backendDied(b, reason);
      },
      oversize: (bytes: number, id: Id | null | undefined) => {
        this.metrics.dropped(this.name, record.version);
        this.backendOversize(b, bytes, id);
      },
      noise: () => this.metrics.dropped(this.name, record.version),
      sessionGone: (reason: string, refused: unknown[]) => void this.backendSessionGone(b, reason, refused),
    };
    try {
      // A managed version's server runs under a router, not here (a proxy per client would start one each).
      if (record.type === 'http' && record.managed) throw new Error('it is a managed version, served by "mcp-rollout serve": point the client at the router (http://<host>:<port>/mcp/<name>)');
      // The HTTP upstreams are loaded only for http/sse versions (a stdio proxy starts faster without them).
      b.upstream =
        record.type === 'stdio'
          ? await StdioUpstream.start(label, record, { maxMessageBytes: this.opts.maxMessageBytes, ...(this.lifeline ? { lifeline: this.lifeline } : {}), ...(this.opts.stderr ? { stderr: this.opts.stderr } : {}) }, events)
          : record.type === 'http'
            ? await (await import('../backends/streamable-http-upstream.js')).StreamableHttpUpstream.start(label, record.url, record.headers, { maxMessageBytes: this.opts.maxMessageBytes }, events)
            : await (await import('../backends/sse-upstream.js')).SseUpstream.start(label, record.url, record.headers, events);
      this.live.add(b);
      this.metrics.sessionStarted(this.name, record.version);
      if (record.type === 'stdio') this.metrics.processStarted(this.name, record.version, restart);
    } catch (e) {
      b.failure = couldNotStart(this.name, record.version, (e as Error).message);
    }
    return b;
  }

  /**
   * The client sent a message over the limit. If it answered a server request, that server gets an error (it
   * would wait forever); otherwise the client gets -32600 under the message's id when one could be seen.
   */
  private clientOversize(bytes: number, id: Id | null | undefined): void {
    const message = `message of ${bytes} bytes exceeds the limit of ${this.opts.maxMessageBytes}`;
    const asker = id === undefined || id === null ? undefined : this.asked.get(key(id));
    if (asker && id !== undefined && id !== null) {
      this.asked.delete(key(id));
      if (asker.upstream?.alive) asker.upstream.send({ jsonrpc: '2.0', id, error: { code: -32603, message: `the client's answer was dropped by mcp-rollout proxy: ${message}` } });
      return;
    }
    this.toClient({ jsonrpc: '2.0', id: id ?? null, error: { code: -32600, message } });
  }

  /** A backend sent a message over the limit: dropped; if it answered a waiting request, that request fails now. */
  private backendOversize(b: Backend, bytes: number, id: Id | null | undefined): void {
    if (id !== undefined && id !== null && this.pending.get(id)?.context === b) {
      this.pending.failOne(id, answerTooLarge(this.name, b.version, bytes, this.opts.maxMessageBytes), { error: true });
      return;
    }
    this.noise++;
  }

  private fromClient(text: string): void {
    let msg: Msg | Msg[];
    try {
      msg = JSON.parse(text) as Msg | Msg[];
    } catch (e) {
      return this.toClient({ jsonrpc: '2.0', id: null, error: { code: -32700, message: `Parse error: ${(e as Error).message}` } });
    }
    if (typeof msg !== 'object' || msg === null) {
      return this.toClient({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: expected a JSON-RPC object or batch' } });
    }
    if (Array.isArray(msg) && msg.length === 0) {
      return this.toClient({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: an empty batch' } });
    }
    if (this.migrating) {
      // Held back while the session moves, then sent to the new backend in order.
      const held = msg;
      void this.migrating.then(() => this.forward(held, text));
      return;
    }
    this.forward(msg, text);
  }

  private forward(msg: Msg | Msg[], text: string): void {
    if (this.ended) return;
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
      if (asker && asker !== this.current) {
        if (asker.upstream?.alive) asker.upstream.send(msg, text);
        return;
      }
    }
    if (!Array.isArray(msg) && msg.method === 'notifications/cancelled') {
      // A request still running on the old backend after a move is cancelled there.
      const requestId = msg.params?.requestId;
      const running = typeof requestId === 'string' || typeof requestId === 'number' ? this.pending.get(requestId)?.context : undefined;
      if (running && running !== this.current) {
        this.pending.cancel(requestId);
        if (running.upstream?.alive) running.upstream.send(msg, text);
        return;
      }
    }
    const b = this.current!;
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      if (m.method === 'initialize' && m.params) this.initializeParams = m.params;
      if (m.method === 'notifications/initialized') this.initialized = true;
      // The client gave up on it: no deadline error will follow, and a late answer is dropped.
      if (m.method === 'notifications/cancelled') this.pending.cancel(m.params?.requestId);
      if (m.method !== undefined && m.id !== undefined && m.id !== null) this.pending.open(m.id, m.method, { version: b.version, deadlineMs: this.opts.requestTimeoutMs, context: b });
    }
    if (!b.upstream?.alive) return this.failPending(b, b.failure ?? notRunning(this.name, b.version));
    b.upstream.send(msg, text);
  }

  private fromBackend(b: Backend, raw: unknown, text?: string): void {
    if (Array.isArray(raw)) {
      for (const m of raw) this.account(b, m as Msg);
      return this.toClientText(text ?? JSON.stringify(raw));
    }
    const m = raw as Msg;
    if (m.id !== undefined && m.id !== null && m.method === undefined && typeof m.id === 'string' && m.id.startsWith(REPLAY)) {
      this.privateWaiters.get(m.id)?.(m);
      this.privateWaiters.delete(m.id);
      return;
    }
    // A standby backend's own news (list changes, logs) is not the session's: it speaks only to finish requests.
    if (this.standby?.backend === b && m.method !== undefined && (m.id === undefined || m.id === null) && !this.busy(b)) return;
    if (m.method !== undefined && m.id !== undefined && m.id !== null) {
      const other = this.asked.get(key(m.id));
      if (other !== undefined && other !== b) {
        // During a move, the old and the new backend may each ask the client something under the same id:
        // this one goes out under an id of ours, and its answer comes back to it under its own.
        const alias = `${ASK_ALIAS}${++this.aliasSeq}`;
        this.aliases.set(key(alias), m.id);
        this.asked.set(key(alias), b);
        return this.toClientText(JSON.stringify({ ...m, id: alias }));
      }
      this.asked.set(key(m.id), b);
    }
    if (!this.account(b, m)) return; // a late answer to a request already failed: the client has its error
    this.toClientText(text ?? JSON.stringify(m));
  }

  /** Books a backend response against its request; false when nobody waits for it any more. */
  private account(b: Backend, m: Msg): boolean {
    if (m.method !== undefined || m.id === undefined || m.id === null) return true; // requests and notifications pass
    const booked = this.pending.settle(m);
    if (!booked) return false;
    if (booked.method === 'initialize' && m.result && typeof m.result.protocolVersion === 'string') b.upstream?.negotiated?.(m.result.protocolVersion);
    return true;
  }

  /** Every request still waiting on `b` gets an error now. */
  private failPending(b: Backend, message: string): void {
    this.pending.failAll(message, { transportFailure: true }, (p) => p.context === b);
  }

  /** `b` is gone (or going): it no longer counts as live, and nobody waits for its questions' answers. */
  private forget(b: Backend): void {
    if (this.live.delete(b)) this.goneNoise += b.upstream?.noise ?? 0;
    for (const [k, asker] of this.asked) {
      if (asker !== b) continue;
      this.asked.delete(k);
      this.aliases.delete(k);
    }
  }

  /** Ends `b` once (process group or HTTP session), however many callers ask. */
  private closeBackend(b: Backend): Promise<void> {
    if (!b.upstream) return Promise.resolve();
    b.closing ??= (async () => {
      if (b.upstream?.alive) {
        this.metrics.sessionEnded(this.name, b.version);
        await b.upstream.close();
      }
      this.forget(b);
    })();
    return b.closing;
  }

  private async backendDied(b: Backend, reason: string): Promise<void> {
    this.metrics.crashed(this.name, b.version);
    if (b.closing === undefined) this.metrics.sessionEnded(this.name, b.version);
    this.failPending(b, reason);
    if (this.ended || b !== this.current) return;
    const now = Date.now();
    const verdict = this.restarts.check(now);
    if (!verdict.allowed) {
      b.failure = notRestartedAfterRestarts(reason, verdict.count);
      return;
    }
    this.restarts.record(now);
    b.failure = reason;
    const d = this.decide(b, reason);
    if (d.action === 'stay') return; // not reached: a death never lets a session stay
    await this.migrate(d, true);
  }

  /**
   * `b`'s HTTP backend no longer knows the session (it restarted): the session moves as after a crash (replayed
   * initialize, list_changed), and the messages the backend refused, which it never processed, are sent again
   * once the session has moved: each request is answered by the new backend session, or gets an error naming
   * server and version.
   */
  private async backendSessionGone(b: Backend, reason: string, refused: unknown[]): Promise<void> {
    if (this.live.has(b)) {
      this.forget(b);
      if (b.closing === undefined) this.metrics.sessionEnded(this.name, b.version);
    }
    if (this.ended) return;
    if (b === this.current && !this.migrating) {
      const now = Date.now();
      const verdict = this.restarts.check(now);
      if (!verdict.allowed) {
        b.failure = notRestartedAfterRestarts(reason, verdict.count);
        this.failPending(b, b.failure);
        return;
      }
      this.restarts.record(now);
      b.failure = reason;
      const d = this.decide(b, { backendSessionGone: true });
      if (d.action !== 'stay') void this.migrate(d, true); // a vanished backend session never lets a session stay
    }
    await this.migrating;
    for (const m of refused) this.sendAgain(b, m as Msg);
  }

  /** A request `b` refused unprocessed goes to the session's backend now, if its client still waits for it. */
  private sendAgain(b: Backend, m: Msg): void {
    if (this.ended || m.method === undefined || m.id === undefined || m.id === null) return; // a notification or answer for the old session: moot
    const p = this.pending.get(m.id);
    if (p?.context !== b) return;
    const next = this.current!;
    p.context = next;
    p.version = next.version;
    if (!next.upstream?.alive) return void this.pending.failOne(m.id, next.failure ?? notRunning(this.name, next.version), { transportFailure: true });
    next.upstream.send(m);
  }

  /** What the pin decision says of `b` now; `died`: the text of its death (or failure to start), if any. */
  private decide(b: Backend, died?: string | Observed): PinDecision {
    const observed: Observed = typeof died === 'string' ? { backendDied: died } : (died ?? {});
    return decidePin(this.view.get(this.name), { server: this.name, version: b.version, pinnedAt: b.startedAt }, Date.now(), { onPromote: this.opts.onPromote }, observed);
  }

  /**
   * On every registry change: the pin decision says whether the session moves (its version rolled back,
   * removed, promoted away under `move`, or its backend failed). An `end` (the server is gone) moves it to
   * nothing: a stdio client has no session to end, so its requests get errors saying why until it goes.
   */
  private async checkPinned(): Promise<void> {
    const b = this.current;
    if (!b || this.ended || this.migrating) return;
    const d = this.decide(b, b.failure);
    if (d.action === 'stay') return;
    if (!b.upstream && !this.choose()) return; // nothing better to move to
    await this.migrate(d);
  }

  /** Moves the session to the version now chosen by weight, replaying the client's handshake. */
  private migrate(decision: Exclude<PinDecision, { action: 'stay' }>, afterCrash = false): Promise<void> {
    const why = afterCrash ? `${decision.why}; moving the session` : decision.why;
    // Counted for a session that ran on the version (not for one whose backend never started).
    if (this.current?.upstream) this.metrics.sessionLeft(this.name, this.current.version, decision.reason);
    // Set before the first await, so messages arriving meanwhile are held back.
    this.migrating ??= (async () => {
      const old = this.current!;
      const chosen = this.choose();
      const warm = this.takeStandby(chosen?.version);
      if (warm) {
        // Back to the process this session left at a promotion: it still holds the session as it was.
        if (old.upstream?.alive && this.initialized) await this.announceListChanges(old, warm);
        this.current = warm;
        this.opts.notice?.(`${why}: the session is back on version ${warm.version} (its process was kept for the rollback window)`);
        void this.retire(old);
        return;
      }
      const next = await this.startBackend(chosen, afterCrash);
      const replayed = next.upstream && this.initializeParams ? await this.privateRequest(next, 'initialize', this.initializeParams) : undefined;
      if (next.upstream && this.initializeParams && !replayed?.result) {
        // A backend that would not be initialised must not serve the session half set up: requests get this
        // error until the registry changes again (checkPinned then moves the session once more).
        const why = replayed?.error === undefined ? 'did not answer the replayed initialize within 5 s' : `refused the replayed initialize: ${JSON.stringify(replayed.error)}`;
        await this.closeBackend(next);
        delete next.upstream;
        next.failure = `${this.label(next.version)} ${why}`;
      }
      if (next.upstream && this.initializeParams) {
        const result = replayed;
        if (result?.result && typeof result.result.protocolVersion === 'string') next.upstream.negotiated?.(result.result.protocolVersion);
        if (this.initialized) next.upstream.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
        if (old.upstream?.alive && this.initialized) await this.announceListChanges(old, next);
        else if (this.initialized) this.announceAll(result?.result);
      }
      this.current = next;
      this.opts.notice?.(`${why}: the session now uses ${next.upstream ? `version ${next.version}` : `nothing (${next.failure})`}`);
      // Left at a promotion: the old backend stays warm for the rollback window. Otherwise it finishes what
      // it was asked, then goes.
      if (decision.reason === SessionReason.PromotedAway && this.warmable(old)) this.keepStandby(old);
      else void this.retire(old);
    })().finally(() => (this.migrating = undefined));
    return this.migrating;
  }

  /** True when `b`, left at a promotion, may stay warm for the rollback window: it is healthy and the window is on. */
  private warmable(b: Backend): boolean {
    return this.opts.rollbackWindowMs > 0 && b.failure === undefined && b.upstream?.alive === true && !b.closing;
  }

  private keepStandby(b: Backend): void {
    const before = this.standby;
    const timer = setTimeout(() => {
      if (this.standby?.backend !== b) return;
      this.standby = undefined;
      void this.retire(b);
    }, this.opts.rollbackWindowMs);
    timer.unref();
    this.standby = { backend: b, timer };
    if (before) {
      clearTimeout(before.timer);
      void this.retire(before.backend);
    }
  }

  /** The standby backend, if it serves `version` and still runs (then it is no longer a standby). */
  private takeStandby(version: string | undefined): Backend | undefined {
    const s = this.standby;
    if (!s || version === undefined || s.backend.version !== version || !s.backend.upstream?.alive || s.backend.closing) return undefined;
    clearTimeout(s.timer);
    this.standby = undefined;
    return s.backend;
  }

  /** True while `b` has requests of the client to answer. */
  private busy(b: Backend): boolean {
    return this.pending.some((p) => p.context === b);
  }

  private async retire(b: Backend): Promise<void> {
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    while (!this.ended && this.busy(b) && Date.now() < deadline && b.upstream?.alive) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.closeBackend(b); // at shutdown, ended there already
  }

  /** A request of the proxy's own (private id); undefined on no answer within 5 s. */
  private privateRequest(b: Backend, method: string, params: Record<string, unknown>): Promise<Msg | undefined> {
    const id = `${REPLAY}${++this.privateSeq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.privateWaiters.delete(id);
        resolve(undefined);
      }, 5000);
      this.privateWaiters.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      b.upstream!.send({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** Compares the old and new lists and sends list_changed for each that differs. */
  private async announceListChanges(old: Backend, next: Backend): Promise<void> {
    const read = async (b: Backend): Promise<Surface> => {
      const answers = await Promise.all(LISTS.map(({ method }) => this.privateRequest(b, method, {})));
      return Object.fromEntries(LISTS.map(({ list }, i) => [list, answers[i]?.result?.[list]]));
    };
    const [before, after] = await Promise.all([read(old), read(next)]);
    for (const method of listChangedNotices(before, after)) this.toClient({ jsonrpc: '2.0', method });
  }

  /** Without the old backend to compare with, every list the new server offers may have changed. */
  private announceAll(initResult: Record<string, unknown> | undefined): void {
    for (const method of noticesForCapabilities(initResult?.capabilities)) this.toClient({ jsonrpc: '2.0', method });
  }

  private toClient(m: unknown): void {
    this.toClientText(JSON.stringify(m));
  }

  private toClientText(text: string): void {
    if (!this.ended && this.output.writable) this.output.write(text + '\n');
  }

  /** The client went away: every backend is ended (process groups included). */
  private async shutdown(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.view.off('change', this.onRegistryChange);
    this.pending.clear();
    if (this.standby) clearTimeout(this.standby.timer);
    this.standby = undefined;
    // Nothing more is read from the client (lets a process whose stdin is still open exit).
    if (!this.input.readableEnded) this.input.destroy();
    await this.migrating;
    // The current backend and any old one still finishing requests after a move.
    await Promise.all([...this.live].map((b) => this.closeBackend(b)));
    this.lifeline?.close();
    this.done();
  }
}

