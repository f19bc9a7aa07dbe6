/**
 * A running process's view of the registry: loaded once, then checked every `pollMs` (a cheap revision
 * token; read and parsed only when it moved), so traffic changes made by any CLI reach a router without a
 * restart. A store that pushes changes (the database's LISTEN/NOTIFY) is re-read on each cue and each
 * reconnect of its listener instead, and polled only slowly as a fallback. A refresh that fails (a hand-broken
 * file) keeps the last good view and records the error, so routing never stops because of an edit.
 */
import { EventEmitter } from 'node:events';
import type { ServerState } from '../domain/types.js';
import type { Store } from '../state/store.js';

export class LiveView extends EventEmitter<{ change: [] }> {
  private servers = new Map<string, ServerState>();
  private timer: NodeJS.Timeout | undefined;
  private lastText = '';
  private lastRevision: string | undefined;
  private unwatch: (() => void) | undefined;
  private refreshing: Promise<void> | undefined;
  private again = false;
  /** The message of the last failed refresh, cleared by the next good one. */
  lastError: string | undefined;
  /**
   * The registry's clock, epoch ms: the database's for a database store (every process of a fleet reads the
   * same one, postgres-clock.ts), this host's otherwise. Times compared with the registry's (a rollback's, a
   * rollout step's) are taken with it.
   */
  now(): number {
    return this.store.now?.() ?? Date.now();
  }

  /** Why the store's change listener last failed to connect (the fallback poll still runs). */
  watchError: string | undefined;

  /**
   * @param pollMs how often a store without pushed changes is checked (ms)
   * @param watchedPollMs the fallback check of a store that pushes changes (ms, default 5000)
   */
  constructor(
    /** Read by the router for the store's key ring too. */
    readonly store: Store,
    private readonly pollMs = 500,
    private readonly watchedPollMs = 5000,
  ) {
    super();
  }

  /** Loads the registry (throws if it cannot be read at start) and begins watching or polling. */
  async start(): Promise<void> {
    await this.refresh(true);
    const pushed = this.store.watch !== undefined;
    if (pushed) {
      this.unwatch = this.store.watch!(
        () => {
          this.watchError = undefined;
          this.kick();
        },
        (e) => (this.watchError = e.message),
      );
    }
    this.timer = setInterval(() => this.kick(), pushed ? this.watchedPollMs : this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.unwatch?.();
    this.unwatch = undefined;
  }

  /**
   * One refresh at a time: cues that arrive during one run it once more after, so an older read never lands
   * after a newer one.
   */
  private kick(): void {
    if (this.refreshing) {
      this.again = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        await this.refresh(false);
      } while (this.again);
    })().finally(() => (this.refreshing = undefined));
  }

  /** The server as last seen, or undefined. */
  get(name: string): ServerState | undefined {
    return this.servers.get(name);
  }

  names(): string[] {
    return [...this.servers.keys()];
  }

  /**
   * Re-reads the registry now (at once when `strict`, else only when the store's revision moved); emits
   * `change` when anything differs.
   */
  async refresh(strict = false): Promise<void> {
    try {
      const revision = await this.store.revision();
      if (!strict && revision === this.lastRevision && this.lastError === undefined) return;
      const list = await this.store.list();
      this.lastRevision = revision;
      const text = JSON.stringify(list.map((s) => s.server));
      this.lastError = undefined;
      if (text === this.lastText) return;
      this.lastText = text;
      this.servers = new Map(list.map((s) => [s.server.name, s.server]));
      this.emit('change');
    } catch (e) {
      if (strict) throw e;
      this.lastError = (e as Error).message;
    }
  }
}
