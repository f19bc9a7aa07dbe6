/**
 * The crash throttle of every front: a backend that keeps dying is not started again and again (a crash loop
 * would otherwise start a process per request, or per death). It counts events (deaths, or restarts: the
 * caller says which it books) within a sliding window; at `max` of them no restart is allowed until the
 * oldest counted one leaves the window. Pure: the clock is passed in.
 */

/** The window both fronts count in, ms: "N times in the last minute". */
export const CRASH_WINDOW_MS = 60_000;

export type ThrottleVerdict = { allowed: true } | { allowed: false; count: number; until: number };

export class CrashThrottle {
  private at: number[] = [];

  /**
   * @param max events within the window that stop restarts (the proxy counts 3 restarts, the pool 3 deaths)
   * @param windowMs the sliding window, ms (default one minute)
   */
  constructor(
    private readonly max: number,
    private readonly windowMs = CRASH_WINDOW_MS,
  ) {}

  /** Books one event at `now` (epoch ms). */
  record(now: number): void {
    this.prune(now);
    this.at.push(now);
  }

  /**
   * Whether a restart may happen at `now`; when not, how many events the window holds and when (epoch ms) a
   * restart is allowed again.
   */
  check(now: number): ThrottleVerdict {
    this.prune(now);
    if (this.at.length < this.max) return { allowed: true };
    return { allowed: false, count: this.at.length, until: this.at[this.at.length - this.max]! + this.windowMs };
  }

  private prune(now: number): void {
    this.at = this.at.filter((t) => now - t < this.windowMs);
  }
}
