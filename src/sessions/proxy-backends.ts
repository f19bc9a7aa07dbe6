/**
 * The backends of one stdio proxy session: started (with the metrics of their lives booked), the one the
 * session left at a promotion kept warm for the rollback window (the standby), retired once their requests are
 * answered, and closed, each once. A session has one current backend (proxy-migration.ts says which); during a
 * move, the old one stays live to finish its requests.
 */
import type { VersionRecord } from '../domain/types.js';
import { couldNotStart, noVersionCarriesTraffic, versionLabel } from '../protocol/router-errors.js';
import type { LiveView } from '../registry/live-view.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import { Lifeline } from '../backends/lifeline.js';
import { startUpstream, type Upstream } from '../backends/upstream.js';

export interface ProxyBackend {
  version: string;
  upstream?: Upstream;
  /** Why it could not start, or why it may not serve the session (then requests get this error). */
  failure?: string;
  /** Epoch ms it started: the session's pin dates from it. */
  startedAt: number;
  /** Set once we began ending it (so it is ended, and counted as ended, once). */
  closing?: Promise<void>;
}

/** What the session core does with what a backend says and does. */
export interface BackendHandlers {
  message(b: ProxyBackend, msg: unknown, text?: string): void;
  /** A message over the size limit was dropped (the metrics have it); `id` as its ends showed it. */
  oversize(b: ProxyBackend, bytes: number, id: string | number | null | undefined): void;
  /** It died unasked (counted as a crash and, unless we were ending it, as a session ended). */
  died(b: ProxyBackend, reason: string): void;
  /** Its HTTP backend no longer knows the session; `refused`: the messages it did not process. */
  sessionGone(b: ProxyBackend, reason: string, refused: unknown[]): void;
  /** It no longer counts as live: nobody waits for the answers to its questions any more. */
  forgotten(b: ProxyBackend): void;
  /** True while it has requests of the client to answer. */
  busy(b: ProxyBackend): boolean;
  /** True once the session ended. */
  ended(): boolean;
}

export interface ProxyBackendOptions {
  maxMessageBytes: number;
  requestTimeoutMs: number;
  /** How long a backend left at a promotion stays warm, ms (0: none does). */
  rollbackWindowMs: number;
  lifeline: boolean;
  stderr?: (chunk: Buffer) => void;
  unknownServerHint?: () => string;
}

export class ProxyBackends {
  /** Backends whose process or connection is up: the current one and any old one finishing its work. */
  private readonly live = new Set<ProxyBackend>();
  /** The backend the session left at a promotion, kept warm for the rollback window. */
  private standby: { backend: ProxyBackend; timer: NodeJS.Timeout } | undefined;
  /** Non-JSON lines from backends already gone. */
  private goneNoise = 0;
  private readonly lifeline: Lifeline | undefined;

  constructor(
    private readonly name: string,
    private readonly view: LiveView,
    private readonly metrics: VersionMetrics,
    private readonly opts: ProxyBackendOptions,
    private readonly on: BackendHandlers,
  ) {
    this.lifeline = opts.lifeline ? new Lifeline() : undefined;
  }

  /**
   * Starts a backend for `record` (undefined: no version carries traffic, or the server is unknown); `restart`:
   * in place of one that died (counted as such). Never rejects: a backend that cannot start has `failure`.
   */
  async start(record: VersionRecord | undefined, restart = false): Promise<ProxyBackend> {
    if (!record) {
      const known = this.view.get(this.name) !== undefined;
      const hint = this.opts.unknownServerHint?.();
      const unknown = `unknown server "${this.name}"${hint === undefined ? '' : `: ${hint}`}`;
      return { version: '-', startedAt: this.view.now(), failure: known ? noVersionCarriesTraffic(this.name) : unknown };
    }
    const b: ProxyBackend = { version: record.version, startedAt: this.view.now() };
    const { metrics, name, on } = this;
    const events = {
      message: (m: unknown, text?: string) => on.message(b, m, text),
      close: (reason: string, unexpected: boolean) => {
        this.forget(b);
        if (record.type === 'stdio') metrics.processEnded(name, record.version);
        if (!unexpected) return;
        metrics.crashed(name, b.version);
        if (b.closing === undefined) metrics.sessionEnded(name, b.version);
        on.died(b, reason);
      },
      oversize: (bytes: number, id: string | number | null | undefined) => {
        metrics.dropped(name, record.version);
        on.oversize(b, bytes, id);
      },
      noise: () => metrics.dropped(name, record.version),
      sessionGone: (reason: string, refused: unknown[]) => {
        if (this.live.has(b)) {
          this.forget(b);
          if (b.closing === undefined) metrics.sessionEnded(name, b.version);
        }
        on.sessionGone(b, reason, refused);
      },
    };
    try {
      // A managed version's server runs under a router, not here (a proxy per client would start one each).
      if (record.type === 'http' && record.managed) throw new Error('it is a managed version, served by "mcp-rollout serve": point the client at the router (http://<host>:<port>/mcp/<name>)');
      const stdio = { maxMessageBytes: this.opts.maxMessageBytes, ...(this.lifeline ? { lifeline: this.lifeline } : {}), ...(this.opts.stderr ? { stderr: this.opts.stderr } : {}) };
      b.upstream = await startUpstream(versionLabel(name, record.version), record, stdio, events);
      this.live.add(b);
      metrics.sessionStarted(name, record.version);
      if (record.type === 'stdio') metrics.processStarted(name, record.version, restart);
    } catch (e) {
      b.failure = couldNotStart(name, record.version, (e as Error).message);
    }
    return b;
  }

  /** Lines that were not JSON (or were over the size limit) on the backends' stdout, dropped, so far. */
  noise(): number {
    let n = this.goneNoise;
    for (const b of this.live) n += b.upstream?.noise ?? 0;
    return n;
  }

  /** Ends `b` once (process group or HTTP session), however many callers ask. */
  close(b: ProxyBackend): Promise<void> {
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

  /** `b` finishes what it was asked (up to the request deadline), then goes. */
  async retire(b: ProxyBackend): Promise<void> {
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    while (!this.on.ended() && this.on.busy(b) && Date.now() < deadline && b.upstream?.alive) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.close(b); // at shutdown, ended there already
  }

  /**
   * `b`, left at a promotion, stays warm for the rollback window if it is healthy and the window is on (true);
   * otherwise it is retired (false). A standby kept before gives way.
   */
  keepWarm(b: ProxyBackend): boolean {
    if (this.opts.rollbackWindowMs <= 0 || b.failure !== undefined || b.upstream?.alive !== true || b.closing) return false;
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
    return true;
  }

  /** The standby backend, if it serves `version` and still runs (then it is no longer a standby). */
  takeStandby(version: string | undefined): ProxyBackend | undefined {
    const s = this.standby;
    if (!s || version === undefined || s.backend.version !== version || !s.backend.upstream?.alive || s.backend.closing) return undefined;
    clearTimeout(s.timer);
    this.standby = undefined;
    return s.backend;
  }

  /** True when `b` is the standby (its own news is not the session's). */
  isStandby(b: ProxyBackend): boolean {
    return this.standby?.backend === b;
  }

  /** The session ended: no standby waits for its window any more. */
  dropStandby(): void {
    if (this.standby) clearTimeout(this.standby.timer);
    this.standby = undefined;
  }

  /** Ends every live backend (the current one and any old one still finishing), then the lifeline. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.live].map((b) => this.close(b)));
    this.lifeline?.close();
  }

  /** Ends the lifeline alone (the session ended before it served: its one backend is closed already). */
  closeLifeline(): void {
    this.lifeline?.close();
  }

  /** `b` is gone (or going): it no longer counts as live. */
  private forget(b: ProxyBackend): void {
    if (this.live.delete(b)) this.goneNoise += b.upstream?.noise ?? 0;
    this.on.forgotten(b);
  }
}
