/**
 * When a managed version's process died: start it again, after how long, or hold. Pure; the clock is passed in.
 * Bounded like a crash-looping unit under systemd (StartLimitBurst within StartLimitIntervalSec): a process that
 * keeps dying is not restarted in a tight loop, and a version that died once in a while is always restarted.
 */

export interface RestartPolicy {
  /** Deaths within `windowMs` after which restarts are held (default 3). */
  maxDeaths: number;
  /** ms (default 60 s). */
  windowMs: number;
  /** Delay before the first restart, ms; doubled for each further recent death (default 1 s). */
  baseDelayMs: number;
  /** Longest delay, ms (default 30 s). */
  maxDelayMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { maxDeaths: 3, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 30_000 };

export type RestartDecision =
  | { restart: true; delayMs: number }
  /** `until`: epoch ms when the oldest recent death leaves the window, and one more start is allowed. */
  | { restart: false; until: number };

/**
 * Decides after a death at `now` (epoch ms). `deaths`: the times of every death so far, this one included, in
 * order. Deaths older than the window are forgotten: a version that ran a while starts over at the base delay.
 */
export function restartDecision(deaths: readonly number[], now: number, policy: RestartPolicy = DEFAULT_RESTART_POLICY): RestartDecision {
  const recent = deaths.filter((t) => t > now - policy.windowMs);
  if (recent.length >= policy.maxDeaths) return { restart: false, until: recent[recent.length - policy.maxDeaths]! + policy.windowMs };
  const delayMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, recent.length - 1));
  return { restart: true, delayMs };
}
