/**
 * An in-memory store with the same contract as the file store: for tests of code above the store, and for
 * embedding (an admin API test, a demo). Not shared between processes; shared by the routers of one process,
 * which hear each other's session ends as the database store's routers do.
 */
import { cloneServer, SCOPES, type Scope, type ServerState } from '../domain/types.js';
import { AppError } from '../errors.js';
import { scopeConflict, type Store, type StoredServer, type UpdateOutcome, type UpdateResult } from './store.js';
import type { LogRecord } from '../domain/deployment-log.js';
import { newKeyRing, rotatedKeyRing, type KeyRing } from './key-ring.js';

export class MemoryStore implements Store {
  private readonly scopes = new Map<Scope, Map<string, ServerState>>(SCOPES.map((s) => [s, new Map()]));
  /** Every log record written, in order. */
  readonly log: LogRecord[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private writes = 0;
  private ring: KeyRing | undefined;
  private readonly endWatchers = new Set<(digest: string) => void>();

  constructor(private readonly historyLimit = 1000) {}

  async list(): Promise<StoredServer[]> {
    const out = new Map<string, StoredServer>();
    for (const [scope, servers] of this.scopes) {
      for (const [name, server] of servers) {
        const other = out.get(name);
        if (other) throw new AppError('conflict', `server "${name}" is defined in two scopes: ${other.scope} and ${scope}`);
        out.set(name, { scope, location: `memory:${scope}`, server: cloneServer(server) });
      }
    }
    return [...out.values()].sort((a, b) => a.server.name.localeCompare(b.server.name));
  }

  /** One ring for every router over this store, as the shared stores do. */
  async keyRing(): Promise<KeyRing> {
    return (this.ring ??= newKeyRing());
  }

  async rotateKeys(): Promise<KeyRing> {
    return (this.ring = rotatedKeyRing(this.ring));
  }

  keyRingLocation(): string {
    return 'memory';
  }

  /** To every watcher of this store, in a microtask each (a database's listeners hear it later too, never inside the call). */
  async publishSessionEnd(digest: string): Promise<void> {
    for (const w of this.endWatchers) queueMicrotask(() => this.endWatchers.has(w) && w(digest));
  }

  watchSessionEnds(onEnd: (digest: string) => void): () => void {
    const w = (digest: string): void => onEnd(digest); // one per call, so watching twice hears twice
    this.endWatchers.add(w);
    return () => void this.endWatchers.delete(w);
  }

  async revision(): Promise<string> {
    return String(this.writes);
  }

  async get(name: string): Promise<StoredServer | undefined> {
    return (await this.list()).find((s) => s.server.name === name);
  }

  update<T>(name: string, scope: Scope | undefined, fn: (current: ServerState | undefined) => UpdateOutcome<T>): Promise<UpdateResult<T>> {
    // Serialise writers like the file lock does.
    const run = this.queue.then(async () => {
      const existing = await this.get(name);
      if (existing && scope !== undefined && existing.scope !== scope) {
        throw scopeConflict(name, existing, scope);
      }
      const target = existing?.scope ?? scope ?? 'project';
      const servers = this.scopes.get(target)!;
      const current = servers.get(name);
      const outcome = fn(current && cloneServer(current));
      if (outcome.log.length > 0) {
        this.writes++;
        if (outcome.server === undefined) servers.delete(name);
        else servers.set(name, { ...cloneServer(outcome.server), history: outcome.server.history.slice(-this.historyLimit) });
        this.log.push(...outcome.log);
      }
      return { value: outcome.value, scope: target, location: `memory:${target}` };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}
