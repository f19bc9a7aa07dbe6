/**
 * Traffic math: the one place that decides how percentages move. Pure and integer-exact.
 */
import { AppError } from '../errors.js';
import type { Status } from './types.js';

export interface Share {
  version: string;
  status: Status;
  trafficPercentage: number;
}

/**
 * Largest-remainder apportionment of `total` integer points in proportion to `weights`.
 * Ties in the fractional part go to the lower index, so callers list the blue first.
 * All arithmetic is on integers (no floating-point drift). Weights must be non-negative integers with a
 * positive sum. Returns one integer per weight; the results sum to exactly `total`.
 */
export function apportion(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) throw new RangeError('apportion needs a positive weight sum');
  const floors = weights.map((w) => Math.floor((total * w) / sum));
  const remainders = weights.map((w) => (total * w) % sum);
  let left = total - floors.reduce((a, b) => a + b, 0);
  const order = weights.map((_, i) => i).sort((a, b) => remainders[b]! - remainders[a]! || a - b);
  for (const i of order) {
    if (left <= 0) break;
    floors[i] = floors[i]! + 1;
    left--;
  }
  return floors;
}

/** Checks that `p` is an integer percentage; throws an `invalid` AppError naming the value otherwise. */
export function parsePercentage(p: unknown): number {
  const n = typeof p === 'string' && /^\s*-?\d+\s*$/.test(p) ? Number(p) : p;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 100) {
    throw new AppError('invalid', `traffic percentage must be an integer from 0 to 100, got "${String(p)}"`);
  }
  return n;
}

/**
 * Sets `target` to exactly `p` percent. The other 100 - p is shared by the other blue and green versions in
 * proportion to their current shares; if those are all 0 it goes to the blue, or (when the target is the
 * blue) is split evenly among the greens. Integer results by largest remainder; ties go to the blue, then to
 * the earlier-listed version. Inactive versions keep 0.
 *
 * `shares` lists the server's versions in deployment order. Returns the new percentage of every version,
 * in the same order. Throws AppError when the target is unknown or inactive, when a green is set with no
 * blue, or when the blue is set below 100 with no green to take the rest.
 */
export function setShare(serverName: string, shares: readonly Share[], target: string, p: number): number[] {
  parsePercentage(p);
  const t = shares.find((s) => s.version === target);
  if (!t) throw new AppError('not-found', `server "${serverName}" has no version "${target}"`);
  if (t.status === 'inactive') {
    throw new AppError(
      'conflict',
      `version "${target}" of server "${serverName}" is inactive and carries no traffic; promote it or deploy a new version`,
    );
  }
  const blue = shares.find((s) => s.status === 'blue');
  if (!blue) {
    throw new AppError('conflict', `server "${serverName}" has no blue version; a green cannot get traffic without one`);
  }
  // Others in tie-break order: the blue first, then deployment order.
  const others = shares
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => s.status !== 'inactive' && s.version !== target)
    .sort((a, b) => Number(b.s.status === 'blue') - Number(a.s.status === 'blue') || a.i - b.i);
  const rest = 100 - p;
  const result = shares.map(() => 0);
  result[shares.indexOf(t)] = p;
  if (rest === 0) return result;
  if (others.length === 0) {
    throw new AppError(
      'conflict',
      `cannot set blue version "${target}" of server "${serverName}" to ${p}%: no green version can take the other ${rest}%`,
    );
  }
  const current = others.map(({ s }) => s.trafficPercentage);
  const weights = current.some((w) => w > 0)
    ? current
    : others.map(({ s }) => (t.status === 'blue' ? 1 : s.status === 'blue' ? 1 : 0));
  const parts = apportion(rest, weights);
  others.forEach(({ i }, k) => {
    result[i] = parts[k]!;
  });
  return result;
}
