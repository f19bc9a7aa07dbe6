/**
 * A running process's view of the registry: loaded once, then checked every `pollMs` (a cheap revision
 * token; read and parsed only when it moved), so traffic changes made by any CLI reach a router without a
 * restart. A refresh that fails (a hand-broken file) keeps the
 * last good view and records the error, so routing never stops because of an edit.
 */
import { EventEmitter } from 'node:events';
import type { ServerState } from '../domain/types.js';
import type { Store } from '../state/store.js';

export class LiveView extends EventEmitter<{ change: [] }> {
  private servers = new Map<string, ServerState>();
  private timer: NodeJS.Timeout | undefined;
  private lastText = '';
  private lastRevision: string | undefined;
  /** The message of the last failed refresh, cleared by the next good one. */
  lastError: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly pollMs = 500,
  ) {
    super();
  }

  /** Loads the registry (throws if it cannot be read at start) and begins polling. */
  async start(): Promise<void> {
    await this.refresh(true);
    this.timer = setInterval(() => void this.refresh(false), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
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
