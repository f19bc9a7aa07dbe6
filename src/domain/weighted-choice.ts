/**
 * Choosing a version by weight. Pure: the caller supplies the random draw (0 <= u < 1), so choices are
 * seedable in tests, and a stable hash turns a client key into the same draw every time.
 */
import type { VersionRecord } from './types.js';

/**
 * The version whose cumulative traffic interval contains `u * 100`; only blue and green versions with a
 * positive share take part, in deployment order. Undefined when no version carries traffic.
 */
export function chooseByWeight<T extends Pick<VersionRecord, 'status' | 'trafficPercentage'>>(versions: readonly T[], u: number): T | undefined {
  const live = versions.filter((v) => v.status !== 'inactive' && v.trafficPercentage > 0);
  const total = live.reduce((a, v) => a + v.trafficPercentage, 0);
  if (total === 0) return undefined;
  let point = Math.min(Math.max(u, 0), 0.999_999_999) * total;
  for (const v of live) {
    if (point < v.trafficPercentage) return v;
    point -= v.trafficPercentage;
  }
  return live.at(-1);
}

/** A draw in [0, 1) from a string, the same on every machine (FNV-1a, 32 bits). */
export function hashDraw(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 0x1_0000_0000;
}

/** A seeded generator of draws in [0, 1) (mulberry32), for reproducible splits. */
export function seededDraws(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}
