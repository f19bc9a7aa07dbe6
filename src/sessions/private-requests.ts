/**
 * Requests of our own sent into a session's stream (the replayed initialize, list reads after a move) under
 * private ids, their answers taken out of the stream instead of reaching the client. One table per stream:
 * the stdio proxy keeps one for its backends, a bridged HTTP session's link (front-link.ts) one for its bridge.
 */

const PRIVATE = 'mcp-rollout:';

/** An answer as it comes back: only `result` or `error` matter to the asker. */
export type Answer = { id?: unknown; method?: string; result?: Record<string, unknown>; error?: unknown };

/** A request of ours, as handed to the stream. */
export type OwnRequest = { jsonrpc: '2.0'; id: string; method: string; params: Record<string, unknown> };

export class PrivateRequests {
  private seq = 0;
  private readonly waiters = new Map<string, (m: Answer) => void>();

  /**
   * Sends `method` with `params` through `send` under a private id; resolves with its answer, or with undefined
   * when none came within `timeoutMs` (ms) or `clear()` came first. Never rejects.
   */
  request(send: (m: OwnRequest) => void, method: string, params: Record<string, unknown>, timeoutMs: number): Promise<Answer | undefined> {
    const id = `${PRIVATE}${++this.seq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        resolve(undefined);
      }, timeoutMs).unref();
      this.waiters.set(id, (m) => {
        clearTimeout(timer);
        resolve(m.method === undefined && m.id === id ? m : undefined);
      });
      send({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** True when `m` answers a request of ours: it is then taken (it must not reach the client). */
  take(m: Answer): boolean {
    if (m.method !== undefined || typeof m.id !== 'string' || !m.id.startsWith(PRIVATE)) return false;
    this.waiters.get(m.id)?.(m);
    this.waiters.delete(m.id);
    return true;
  }

  /** Every request still waiting resolves with undefined (its stream closed). */
  clear(): void {
    for (const w of this.waiters.values()) w({});
    this.waiters.clear();
  }
}
