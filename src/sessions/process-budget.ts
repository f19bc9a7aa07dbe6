/**
 * How many backend processes a stdio version may have for its legacy sessions, and which session gives its
 * process up. Pure: the router passes the sessions and the clock's reading.
 *
 * A session is *busy* while its backend owes an answer to one of its requests, or while the client holds a
 * stream of it open (the GET stream, or a legacy HTTP+SSE connection): a client listening there is still
 * there, and may be waiting for what the server sends unasked. Every other session is *idle*: its client may
 * come back, but nothing of it is under way. Idle sessions are the ones ended when a version reaches its cap
 * (the least recently used first) and after the process idle timeout; a busy one never is.
 */

export interface ProcessHolder {
  /** When the session was last used (a request came in, an answer went out, a stream closed), ms. */
  lastUsed: number;
  busy: boolean;
}

export type Admission<T> =
  /** Start the new session's process; first end `evict`'s, when given, and wait for it to exit. */
  | { admit: true; evict?: T }
  /** The version is at its cap and every session holding a process is busy. */
  | { admit: false };

/**
 * Whether one more process may start for a version whose sessions `holders` hold one each, under `cap`:
 * below it, yes; at it, in place of the least recently used idle session's; when all of them are busy, no.
 */
export function admitProcess<T extends ProcessHolder>(holders: readonly T[], cap: number): Admission<T> {
  if (holders.length < cap) return { admit: true };
  let lru: T | undefined;
  for (const h of holders) if (!h.busy && (lru === undefined || h.lastUsed < lru.lastUsed)) lru = h;
  return lru === undefined ? { admit: false } : { admit: true, evict: lru };
}

/** The holders idle for at least `idleMs` at `now` (their processes are to be ended). */
export function idleExpired<T extends ProcessHolder>(holders: Iterable<T>, now: number, idleMs: number): T[] {
  const out: T[] = [];
  for (const h of holders) if (!h.busy && now - h.lastUsed >= idleMs) out.push(h);
  return out;
}
