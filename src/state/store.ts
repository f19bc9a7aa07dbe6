/**
 * The registry's storage contract. The file store implements it today; a shared database store later.
 * One contract test suite (test/state/store-contract.ts) runs against every implementation.
 */
import type { LogRecord } from '../domain/deployment-log.js';
import { AppError } from '../errors.js';
import type { Scope, ServerState } from '../domain/types.js';
import type { KeyRingStore } from './key-ring.js';

export interface StoredServer {
  scope: Scope;
  /** Where it lives, for messages (a file path, or a database URL later). */
  location: string;
  server: ServerState;
}

export interface UpdateOutcome<T> {
  /** The new state; `undefined` deletes the server. Ignored when `log` is empty (nothing changed). */
  server: ServerState | undefined;
  /** One record per real change; an empty list means nothing is written. */
  log: LogRecord[];
  value: T;
}

/**
 * Sessions ended by their clients, told to every router of a shared store: a client's DELETE reaches one router,
 * and the others holding the session forget it too (the database store: a NOTIFY; the memory store: in process).
 * What travels is a digest of the session id (session-token.ts `sessionDigest`), never the id, which is a bearer
 * credential. A store without replay is best effort: a router that is not listening at that moment misses an end
 * and keeps the session until its idle timeout, as on a store without ends. The database store replays the last
 * hour's ends whenever its listener (re)connects.
 */
export interface SessionEndStore {
  /** Tells every watcher (this process's included) that the session of `digest` was ended by its client. Throws AppError `io`. */
  publishSessionEnd(digest: string): Promise<void>;
  /**
   * Calls `onEnd` with each digest published by anyone from now on; a store may also give ends published a while
   * before (PostgreSQL: those of the last hour, read whenever its listener (re)connects, each heard once).
   * `onError` hears a listener that cannot connect (it keeps trying). Returns a function that stops watching.
   */
  watchSessionEnds(onEnd: (digest: string) => void, onError?: (e: Error) => void): () => void;
}

/**
 * Every store of this project also shares the key ring that seals session ids (key-ring.ts): the file store
 * next to the project registry, the database store in a table, the memory store in memory. Optional, so a
 * store written elsewhere still works (its routers then make a ring of their own at start). Session ends
 * likewise (the file store has none: there a DELETE is known to the router it reaches only).
 */
export interface Store extends Partial<KeyRingStore>, Partial<SessionEndStore> {
  /**
   * Every server across all scopes, sorted by name. Throws AppError `corrupt` naming the file and the
   * problems when a state file cannot be read, `conflict` when one name lives in two scopes.
   */
  list(): Promise<StoredServer[]>;
  /** One server, or undefined. Same errors as `list`. */
  get(name: string): Promise<StoredServer | undefined>;
  /**
   * Read-modify-write of one server, serialised against every other writer of its scope (other processes
   * included). The server is written where it already lives; a new one goes to `scope` (default project).
   * `fn` sees the current state read under the lock and may throw to abort: then nothing is written.
   * Each server keeps only its newest history entries (the scope's configured limit).
   * Throws AppError `conflict` when `scope` names another scope than the one the server lives in.
   */
  update<T>(name: string, scope: Scope | undefined, fn: (current: ServerState | undefined) => UpdateOutcome<T>): Promise<UpdateResult<T>>;
  /**
   * A cheap token of what `list` would return: it changes with every write (by any process), so a reader that
   * polls can skip reading and parsing while it stays the same. Never throws for an unreadable file.
   */
  revision(): Promise<string>;
  /**
   * Where `list` reads, for messages about a server not found (for example each file and whether it exists).
   * Optional: a store that has nothing useful to say leaves it out.
   */
  whereLooked?(): string;
  /**
   * Pushed changes, for a store shared between processes that can say when it changed (the database store):
   * `onChange` is a cue to re-read (never the data), called after every committed write by anyone and every
   * time the store's listener (re)connects, since writes in between are not replayed. `onError` hears a
   * listener that cannot connect (it keeps trying). Returns a function that stops watching. Stores without it
   * are polled.
   */
  watch?(onChange: () => void, onError?: (e: Error) => void): () => void;
  /**
   * The clock every process sharing the store agrees on, epoch ms: the database's for the database store, read
   * without a query. Instants that one process writes and another compares (a rollout step's window start, a
   * router's start, a rollback's time) are taken with it, so hosts whose clocks disagree still agree on them.
   * Stores on one host leave it out: the host's clock is everyone's.
   */
  now?(): number;
  /** Releases what the store holds open (connections); the store is not used afterwards. */
  close?(): Promise<void>;
}

export interface UpdateResult<T> {
  value: T;
  scope: Scope;
  location: string;
}

/** The error for writing a server to another scope than the one it lives in (the same for every store). */
export function scopeConflict(name: string, existing: StoredServer, scope: Scope): AppError {
  return new AppError('conflict', `server "${name}" lives in the ${existing.scope} scope (${existing.location}); it cannot be written to the ${scope} scope`);
}
