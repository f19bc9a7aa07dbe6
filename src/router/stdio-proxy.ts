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
 *
 * This file is the wiring, as router/http-router.ts is the router's: the client's stdio is fronts/stdio-front.ts;
 * the session core is sessions/proxy-exchange.ts (messages both ways, the ledger, server requests, the proxy's
 * own requests), sessions/proxy-migration.ts (the pin, moves, the crash throttle) and sessions/proxy-backends.ts
 * (starting, keeping warm, retiring and closing backends, over backends/upstream.ts).
 */
import type { Readable, Writable } from 'node:stream';
import type { PromotionPolicy } from '../domain/pin-decision.js';
import type { LiveView } from '../registry/live-view.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import { StdioFront } from '../fronts/stdio-front.js';
import { ProxyBackends } from '../sessions/proxy-backends.js';
import { ProxyExchange } from '../sessions/proxy-exchange.js';
import { ProxyMigration } from '../sessions/proxy-migration.js';

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

export class StdioProxy {
  private readonly front: StdioFront;
  private readonly backends: ProxyBackends;
  private readonly exchange: ProxyExchange;
  private readonly migration: ProxyMigration;
  private readonly onRegistryChange = (): void => void this.migration.checkPinned();
  private ended = false;
  private done!: () => void;

  constructor(
    name: string,
    private readonly view: LiveView,
    input: Readable,
    output: Writable,
    metrics: VersionMetrics,
    private readonly opts: ProxyOptions = DEFAULT_PROXY_OPTIONS,
  ) {
    const ended = (): boolean => this.ended;
    const front = (this.front = new StdioFront(input, output, opts.maxMessageBytes));
    const backends = (this.backends = new ProxyBackends(name, view, metrics, opts, {
      message: (b, m, text) => this.exchange.fromBackend(b, m, text),
      oversize: (b, bytes, id) => this.exchange.backendOversize(b, bytes, id),
      died: (b, reason) => void this.migration.backendDied(b, reason),
      sessionGone: (b, reason, refused) => void this.migration.backendSessionGone(b, reason, refused),
      forgotten: (b) => this.exchange.forget(b),
      busy: (b) => this.exchange.busy(b),
      ended,
    }));
    const exchange = (this.exchange = new ProxyExchange({
      name,
      metrics,
      client: front,
      requestTimeoutMs: opts.requestTimeoutMs,
      maxMessageBytes: opts.maxMessageBytes,
      current: () => this.migration.current!,
      moving: () => this.migration.moving,
      isStandby: (b) => backends.isStandby(b),
      ended,
    }));
    this.migration = new ProxyMigration({ name, view, metrics, backends, exchange, client: front, draw: opts.draw, onPromote: opts.onPromote, maxRestartsPerMinute: opts.maxRestartsPerMinute, notice: opts.notice, ended });
  }

  /** Serves the client until its input ends; resolves once every backend is gone. */
  async run(): Promise<void> {
    const finished = new Promise<void>((resolve) => (this.done = resolve));
    const first = await this.migration.start();
    // Once on stderr too: a client may show only the first error of a failed start, or none. The proxy stays:
    // every request gets this error (the client shows it) until the registry changes or the client goes.
    if (first.failure !== undefined) this.opts.notice?.(`every request will fail: ${first.failure}`);
    if (this.ended) {
      // stop() came while the backend was starting.
      await this.backends.close(first);
      this.backends.closeLifeline();
      return;
    }
    this.view.on('change', this.onRegistryChange);
    this.front.start({
      message: (msg, text) => this.exchange.fromClient(msg, text),
      oversize: (id, what) => this.exchange.clientOversize(id, what),
      gone: () => void this.shutdown(),
    });
    await finished;
  }

  /** Ends the session as if the client had gone: every backend is ended; `run()` then resolves. */
  async stop(): Promise<void> {
    await this.shutdown();
  }

  /** Lines that were not JSON (or were over the size limit) on the backends' stdout, dropped, so far. */
  backendNoise(): number {
    return this.exchange.noise + this.backends.noise();
  }

  /** The client went away: every backend is ended (process groups included). */
  private async shutdown(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.view.off('change', this.onRegistryChange);
    this.exchange.clear();
    this.backends.dropStandby();
    this.front.close();
    await this.migration.moving;
    // The current backend and any old one still finishing requests after a move.
    await this.backends.closeAll();
    this.done();
  }
}
