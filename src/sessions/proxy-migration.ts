/**
 * The pin of one stdio proxy session and its moves. The session is pinned to one backend; the pin decision
 * (domain/pin-decision.ts, asked as the router asks it: session-move.ts) says when it moves: its version rolled
 * back or removed, its process died, its HTTP backend forgot the session (a 404: it restarted; the requests it
 * refused are sent again once the session moved), or (under `onPromote: 'move'`) another version was promoted.
 * A move goes to the version now chosen by weight: its `initialize` is replayed, and list_changed tells the
 * client what changed; the old backend finishes its requests first, or (left at a promotion) stays warm for
 * the rollback window. A backend that keeps dying is not replaced more than `maxRestartsPerMinute` times a
 * minute (domain/crash-throttle.ts); its requests then get errors saying so.
 */
import { CrashThrottle } from '../domain/crash-throttle.js';
import type { Observed, PinDecision, PromotionPolicy } from '../domain/pin-decision.js';
import { SessionReason } from '../domain/reasons.js';
import type { VersionRecord } from '../domain/types.js';
import { chooseByWeight } from '../domain/weighted-choice.js';
import { notRestartedAfterRestarts, versionLabel } from '../protocol/router-errors.js';
import type { LiveView } from '../registry/live-view.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import type { ProxyBackend, ProxyBackends } from './proxy-backends.js';
import type { ProxyExchange } from './proxy-exchange.js';
import { decideNow, noticesBetween, readLists, replayInitialize, type Ask } from './session-move.js';

/** How long the replayed initialize (and each list read) of a moving session may take, ms. */
const REPLAY_TIMEOUT_MS = 5000;

type Leaving = Exclude<PinDecision, { action: 'stay' }>;

export interface ProxyMigrationDeps {
  name: string;
  view: LiveView;
  metrics: VersionMetrics;
  backends: ProxyBackends;
  exchange: ProxyExchange;
  /** The client's side: the move's notices go there. */
  client: { send(m: unknown): void };
  /** Draws in [0, 1) for the weighted choice. */
  draw: () => number;
  onPromote: PromotionPolicy;
  /** Restarts allowed within a minute after crashes, before requests just get errors. */
  maxRestartsPerMinute: number;
  /** One line about what the proxy did on its own (a session moved). */
  notice?: ((text: string) => void) | undefined;
  ended(): boolean;
}

export class ProxyMigration {
  /** The session's backend: set by `start()`, replaced by each move. */
  current: ProxyBackend | undefined;
  /** The move under way, if any (the client's messages wait for it). */
  moving: Promise<void> | undefined;
  private readonly restarts: CrashThrottle;

  constructor(private readonly deps: ProxyMigrationDeps) {
    this.restarts = new CrashThrottle(deps.maxRestartsPerMinute);
  }

  /** Starts the session's first backend, on the version chosen by weight; never rejects (see `failure`). */
  async start(): Promise<ProxyBackend> {
    this.current = await this.deps.backends.start(this.choose());
    return this.current;
  }

  /**
   * On every registry change: the pin decision says whether the session moves (its version rolled back,
   * removed, promoted away under `move`, or its backend failed). An `end` (the server is gone) moves it to
   * nothing: a stdio client has no session to end, so its requests get errors saying why until it goes.
   */
  async checkPinned(): Promise<void> {
    const b = this.current;
    if (!b || this.deps.ended() || this.moving) return;
    const d = this.decide(b, b.failure);
    if (d.action === 'stay') return;
    if (!b.upstream && !this.choose()) return; // nothing better to move to
    await this.migrate(d);
  }

  /** `b` died unasked (`reason` names server and version): its requests fail; the session moves if it was on it. */
  async backendDied(b: ProxyBackend, reason: string): Promise<void> {
    this.deps.exchange.failPending(b, reason);
    if (this.deps.ended() || b !== this.current || !this.mayRestart(b, reason)) return;
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
  async backendSessionGone(b: ProxyBackend, reason: string, refused: unknown[]): Promise<void> {
    const { exchange } = this.deps;
    if (this.deps.ended()) return;
    if (b === this.current && !this.moving) {
      if (!this.mayRestart(b, reason)) return exchange.failPending(b, b.failure!);
      const d = this.decide(b, { backendSessionGone: true });
      if (d.action !== 'stay') void this.migrate(d, true); // a vanished backend session never lets a session stay
    }
    await this.moving;
    for (const m of refused) exchange.sendAgain(b, m);
  }

  /** The version a new (or moved) session gets, or undefined when none carries traffic. */
  private choose(): VersionRecord | undefined {
    const server = this.deps.view.get(this.deps.name);
    return server ? chooseByWeight(server.versions, this.deps.draw()) : undefined;
  }

  /**
   * The crash throttle: whether the session may leave `b`, dead (`reason`), for a new backend. Either way
   * `b.failure` says why `b` serves no more: its death, or that the restarts within the minute ran out.
   */
  private mayRestart(b: ProxyBackend, reason: string): boolean {
    const now = Date.now();
    const verdict = this.restarts.check(now);
    if (!verdict.allowed) {
      b.failure = notRestartedAfterRestarts(reason, verdict.count);
      return false;
    }
    this.restarts.record(now);
    b.failure = reason;
    return true;
  }

  /** What the pin decision says of `b` now; `died`: the text of its death (or failure to start), if any. */
  private decide(b: ProxyBackend, died?: string | Observed): PinDecision {
    const observed: Observed = typeof died === 'string' ? { backendDied: died } : (died ?? {});
    return decideNow(this.deps.view, { server: this.deps.name, version: b.version, startedAt: b.startedAt }, this.deps.view.now(), { onPromote: this.deps.onPromote }, observed);
  }

  /** Moves the session to the version now chosen by weight, replaying the client's handshake. */
  private migrate(decision: Leaving, afterCrash = false): Promise<void> {
    const { backends, exchange, metrics, name } = this.deps;
    const why = afterCrash ? `${decision.why}; moving the session` : decision.why;
    // Counted for a session that ran on the version (not for one whose backend never started).
    if (this.current?.upstream) metrics.sessionLeft(name, this.current.version, decision.reason);
    // Set before the first await, so messages arriving meanwhile are held back.
    this.moving ??= (async () => {
      const old = this.current!;
      const chosen = this.choose();
      const warm = backends.takeStandby(chosen?.version);
      if (warm) {
        // Back to the process this session left at a promotion: it still holds the session as it was.
        if (old.upstream?.alive && exchange.initialized) await this.announce(old, warm, undefined);
        this.current = warm;
        this.deps.notice?.(`${why}: the session is back on version ${warm.version} (its process was kept for the rollback window)`);
        void backends.retire(old);
        return;
      }
      const next = await backends.start(chosen, afterCrash);
      const params = exchange.initializeParams;
      if (next.upstream && params) {
        const replayed = await replayInitialize(this.ask(next), params, REPLAY_TIMEOUT_MS);
        if (!replayed.ok) {
          // A backend that would not be initialised must not serve the session half set up: requests get this
          // error until the registry changes again (checkPinned then moves the session once more).
          await backends.close(next);
          delete next.upstream;
          next.failure = `${versionLabel(name, next.version)} ${replayed.why}`;
        } else {
          if (typeof replayed.result.protocolVersion === 'string') next.upstream.negotiated?.(replayed.result.protocolVersion);
          if (exchange.initialized) {
            next.upstream.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
            await this.announce(old.upstream?.alive ? old : undefined, next, replayed.result.capabilities);
          }
        }
      }
      this.current = next;
      this.deps.notice?.(`${why}: the session now uses ${next.upstream ? `version ${next.version}` : `nothing (${next.failure})`}`);
      // Left at a promotion: the old backend stays warm for the rollback window. Otherwise it finishes what
      // it was asked, then goes.
      if (decision.reason !== SessionReason.PromotedAway || !backends.keepWarm(old)) void backends.retire(old);
    })().finally(() => (this.moving = undefined));
    return this.moving;
  }

  /** The proxy's own requests to `b`. */
  private ask(b: ProxyBackend): Ask {
    return (method, params, timeoutMs) => this.deps.exchange.request(b, method, params, timeoutMs);
  }

  /**
   * Sends list_changed for each list that differs between `old` and `next` (asking both); without `old` to
   * compare with, for each list the new server offers by its `capabilities`.
   */
  private async announce(old: ProxyBackend | undefined, next: ProxyBackend, capabilities: unknown): Promise<void> {
    const read = (b: ProxyBackend) => () => readLists(this.ask(b), REPLAY_TIMEOUT_MS);
    for (const method of await noticesBetween(old && read(old), read(next), capabilities)) this.deps.client.send({ jsonrpc: '2.0', method });
  }
}
