/**
 * A running process's view of the registry: loaded once, then refreshed every `pollMs`, so traffic changes
 * made by any CLI reach a router without a restart. A refresh that fails (a hand-broken file) keeps the
 * last good view and records the error, so routing never stops because of an edit.
 */
import { EventEmitter } from 'node:events';
import type { ServerState } from '../domain/types.js';
import type { Store } from '../state/store.js';

export class LiveView extends EventEmitter<{ change: [] }> {
  private servers = new Map<string, ServerState>();
  private timer: NodeJS.Timeout | undefined;
  private lastText = '';
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

  /** Re-reads the registry now; emits `change` when anything differs. */
  async refresh(strict = false): Promise<void> {
    try {
      const list = await this.store.list();
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
