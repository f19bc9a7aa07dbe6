/**
 * Stateless (2026-07-28) requests to a stdio version: one long-lived process per version serves every
 * client's requests. Ids and progress tokens are rewritten on the way in (clients reuse both; 0 is an id) and
 * restored on the way out, so a request's progress (and a `subscriptions/listen` stream's notifications) reach
 * its own client and no other. A request whose
 * client goes away is cancelled at the backend (`notifications/cancelled`). A process that dies fails its open
 * requests at once and is started again for the next one, unless it died three times within a minute: then
 * requests get an error saying so until the minute has passed (no process per request for a crash loop).
 */
import { CrashThrottle } from '../domain/crash-throttle.js';
import type { VersionRecord } from '../domain/types.js';
import { answerTooLarge, couldNotStart, heldAfterExits, versionLabel } from '../protocol/router-errors.js';
import { RequestLedger } from '../sessions/request-ledger.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import { StdioUpstream, type StdioOptions } from './stdio-upstream.js';

type Id = string | number;
type Msg = { jsonrpc?: string; id?: Id | null; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown };

/**
 * What the pool keeps with a request it sent under its own id (the ledger's id, and its progress token at the
 * backend): the client's id and progress token to restore, and where its answer and notifications go.
 */
interface Open {
  clientId: Id;
  resolve: (m: Msg) => void;
  clientToken?: Id;
  onNotification?: (m: Msg) => void;
}

export interface PoolRequestOptions {
  /**
   * Notifications about this request, with the client's values restored: progress (by progress token) and,
   * for `subscriptions/listen`, the subscription's notifications (by subscription id, the request's id).
   */
  onNotification?: (m: Msg) => void;
  /** No answer deadline (a `subscriptions/listen` stream lasts until the client closes it). */
  longLived?: boolean;
  /** Aborted when the client goes away: the backend is told to cancel the request. */
  signal?: AbortSignal;
}

const SUBSCRIPTION = 'io.modelcontextprotocol/subscriptionId';

/** A version's process that died unasked this many times within a minute is not started again until fewer did. */
const MAX_DEATHS = 3;

export class StdioPool {
  private readonly processes = new Map<string, { upstream: Promise<StdioUpstream>; open: RequestLedger<Open> }>();
  private seq = 0;
  /**
   * Versions whose process died unasked: their deaths (the throttle), the last reason, and whether the next
   * process started for them is a restart.
   */
  private readonly deaths = new Map<string, { throttle: CrashThrottle; reason: string; restartDue: boolean }>();

  constructor(
    private readonly metrics: VersionMetrics,
    private readonly stdioOptions: StdioOptions,
    private readonly requestTimeoutMs = 300_000,
  ) {}

  private key(server: string, version: string): string {
    return `${server}\u0000${version}`;
  }

  private entry(server: string, record: VersionRecord & { type: 'stdio' }) {
    const k = this.key(server, record.version);
    const running = this.processes.get(k);
    if (running) return running;
    // Booked by the router, which also answers requests that never reach a process (held, could not start).
    const open = new RequestLedger<Open>(server, { reply: (error, p) => p.context.resolve({ ...error, id: p.context.clientId }) });
    const label = versionLabel(server, record.version);
    const upstream = StdioUpstream.start(label, record, this.stdioOptions, {
      message: (m) => {
        const msg = m as Msg;
        if (msg.method === 'notifications/progress') {
          const o = open.byProgressToken(msg.params?.progressToken)?.context;
          if (o?.onNotification && o.clientToken !== undefined) o.onNotification({ ...msg, params: { ...msg.params, progressToken: o.clientToken } });
          return;
        }
        const meta = msg.params?._meta as Record<string, unknown> | undefined;
        const subscription = meta?.[SUBSCRIPTION];
        if (msg.method !== undefined && typeof subscription === 'string') {
          const o = open.get(subscription)?.context;
          o?.onNotification?.({ ...msg, params: { ...msg.params, _meta: { ...meta, [SUBSCRIPTION]: o.clientId } } });
          return;
        }
        // Stateless: nothing else unsolicited can be attributed to a client (the process serves them all).
        const o = open.settle(msg)?.context;
        o?.resolve({ ...msg, id: o.clientId });
      },
      noise: () => this.metrics.dropped(server, record.version),
      oversize: (bytes, id) => {
        this.metrics.dropped(server, record.version);
        // An answer too large to pass on: its request fails now rather than at its deadline.
        if (id !== undefined && id !== null) open.failOne(id, answerTooLarge(server, record.version, bytes, this.stdioOptions.maxMessageBytes));
      },
      close: (reason, unexpected) => {
        // Only this process's entry: after stop(), another process may already serve the version.
        if (this.processes.get(k) === entry) this.processes.delete(k);
        this.metrics.processEnded(server, record.version);
        if (unexpected) {
          this.metrics.crashed(server, record.version);
          const throttle = this.deaths.get(k)?.throttle ?? new CrashThrottle(MAX_DEATHS);
          throttle.record(Date.now());
          this.deaths.set(k, { throttle, reason, restartDue: true });
        }
        open.failAll(reason);
      },
    });
    const entry = { upstream, open };
    upstream.then(
      () => {
        const d = this.deaths.get(k);
        this.metrics.processStarted(server, record.version, d?.restartDue === true);
        if (d) d.restartDue = false;
      },
      () => {
        if (this.processes.get(k) === entry) this.processes.delete(k);
      },
    );
    this.processes.set(k, entry);
    return entry;
  }

  /**
   * Why a version's process is not started again now: it died unasked MAX_DEATHS times within a minute (a
   * crash loop would otherwise start a process per request). Undefined when it may start.
   */
  private held(server: string, version: string): string | undefined {
    const k = this.key(server, version);
    if (this.processes.has(k)) return undefined;
    const d = this.deaths.get(k);
    const verdict = d?.throttle.check(Date.now());
    if (!d || !verdict || verdict.allowed) return undefined;
    return heldAfterExits(server, version, verdict.count, verdict.until, d.reason);
  }

  /** Sends one request to the version's process and resolves with its answer (original id restored). */
  async request(server: string, record: VersionRecord & { type: 'stdio' }, msg: Msg & { id: Id }, opts: PoolRequestOptions = {}): Promise<Msg> {
    const why = this.held(server, record.version);
    if (why !== undefined) return { jsonrpc: '2.0', id: msg.id, error: { code: -32603, message: why } };
    const e = this.entry(server, record);
    let u: StdioUpstream;
    try {
      u = await e.upstream;
    } catch (err) {
      return { jsonrpc: '2.0', id: msg.id, error: { code: -32603, message: couldNotStart(server, record.version, (err as Error).message) } };
    }
    const internal = `pool-${++this.seq}`;
    const meta = msg.params?._meta as Record<string, unknown> | undefined;
    const token = meta?.progressToken as Id | undefined;
    // The request's own id doubles as its progress token at the backend: unique, and mapped back here.
    const sent = token === undefined ? { ...msg, id: internal } : { ...msg, id: internal, params: { ...msg.params, _meta: { ...meta, progressToken: internal } } };
    return new Promise((resolve) => {
      const finish = (m: Msg): void => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(m);
      };
      const cancelled: Msg = { jsonrpc: '2.0', id: msg.id, error: { code: -32800, message: 'request cancelled: the client went away' } };
      const onAbort = (): void => {
        if (!e.open.cancel(internal)) return;
        u.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: internal, reason: 'the client went away' } });
        finish(cancelled);
      };
      if (opts.signal?.aborted) return finish(cancelled);
      const context: Open = { clientId: msg.id, resolve: finish, ...(token === undefined ? {} : { clientToken: token }), ...(opts.onNotification ? { onNotification: opts.onNotification } : {}) };
      e.open.open(internal, msg.method ?? '', {
        version: record.version,
        context,
        // A subscriptions/listen stream has no deadline: it lasts until the client closes it.
        ...(opts.longLived ? {} : { deadlineMs: this.requestTimeoutMs }),
        ...(token === undefined ? {} : { progressToken: internal }),
      });
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      u.send(sent);
    });
  }

  /** Delivers a notification to the version's process. */
  async notify(server: string, record: VersionRecord & { type: 'stdio' }, msg: Msg): Promise<void> {
    if (this.held(server, record.version) !== undefined) return;
    const u = await this.entry(server, record).upstream.catch(() => undefined);
    u?.send(msg);
  }

  /** The versions that have a process now, as `server\u0000version` keys. */
  running(): string[] {
    return [...this.processes.keys()];
  }

  /** Ends the process of one version (no-op without one); its open requests get errors. */
  async stop(key: string): Promise<void> {
    const e = this.processes.get(key);
    if (!e) return;
    this.processes.delete(key);
    await e.upstream.then((u) => u.close(), () => undefined);
  }

  /** Ends every process. */
  async close(): Promise<void> {
    const all = [...this.processes.values()];
    this.processes.clear();
    await Promise.all(all.map((e) => e.upstream.then((u) => u.close(), () => undefined)));
  }
}
