/**
 * The resource criteria of rollout analysis, for versions whose processes the system runs (managed versions):
 * resident memory growth over the window (a leak) and CPU time per request, each against an absolute limit and
 * against the blue over the same window. Pure.
 *
 * Why both limits must be crossed: a fresh process grows while it warms up (lazy module loading, JIT, caches
 * filling on first calls) and burns more CPU on its first requests, so an absolute limit alone would fail healthy
 * greens; a ratio alone would fail a version whose blue happens to be idle (2 MB against 0.3 MB). A leak or a CPU
 * regression worth a rollback crosses both.
 */

/** What a version's processes did between the first and the last resource sample inside the window. */
export interface ResourceWindow {
  /** Samples taken (a router takes about one a second per running managed process); fewer than 2: nothing to judge. */
  samples: number;
  /** ms between the first and the last sample. */
  spanMs: number;
  /**
   * Resident memory at the last sample minus at an earlier one, bytes (negative when it shrank): a router measures
   * it over the later half of the samples, so warm-up growth at a process's start is not taken for a leak.
   */
  rssGrowthBytes: number;
  /** ms over which rssGrowthBytes was measured (spanMs when absent). */
  rssGrowthSpanMs?: number;
  /** CPU time (user + system) used between the first and the last sample, seconds. */
  cpuSeconds: number;
  /** Requests answered between the first and the last sample (the CPU is divided by these). */
  requests: number;
}

export interface ResourceThresholds {
  /** Growth of resident memory over the window that may fail a version, bytes. Default 50 MB. */
  maxMemoryGrowthBytes: number;
  /** ...and it fails only if it is also over this multiple of the blue's growth... Default 4. */
  memoryGrowthRatio: number;
  /** ...plus this many bytes. Default 20 MB. */
  memoryGrowthMarginBytes: number;
  /** CPU ms per request that may fail a version. Default 5 ms. */
  maxCpuMsPerRequest: number;
  /** ...and it fails only if it is also over this multiple of the blue's. Default 3. */
  cpuRatio: number;
  /** Samples must span at least this long before resources are judged, ms. Default 5000. */
  minResourceSpanMs: number;
}

const MB = 1024 * 1024;

export const DEFAULT_RESOURCE_THRESHOLDS: ResourceThresholds = {
  maxMemoryGrowthBytes: 50 * MB,
  memoryGrowthRatio: 4,
  memoryGrowthMarginBytes: 20 * MB,
  maxCpuMsPerRequest: 5,
  cpuRatio: 3,
  minResourceSpanMs: 5000,
};

export interface ResourceResult {
  metric: 'memory-growth' | 'cpu-per-request';
  verdict: 'pass' | 'fail' | 'inconclusive' | 'skipped';
  /** Growth in bytes, or CPU ms per request; undefined without data. */
  value?: number;
  /** One sentence with the figures: "resident memory grew 180 MB in 60 s, blue 2 MB". */
  message: string;
}

/**
 * Judges the candidate's resources against `t` and the blue's over the same window. `minRequests`: requests
 * needed (in the candidate's and in the blue's samples) before CPU per request means anything. Without a blue
 * figure, memory growth is judged by the absolute limit alone (a leak is a leak), and CPU per request is skipped
 * (a server whose tools do real work may need more than any fixed figure; only a comparison tells a regression).
 */
export function analyseResources(candidate: ResourceWindow, blue: ResourceWindow | undefined, t: ResourceThresholds, minRequests: number): ResourceResult[] {
  if (candidate.samples < 2 || candidate.spanMs < t.minResourceSpanMs) {
    const why = candidate.samples < 2 ? `${candidate.samples} resource sample${candidate.samples === 1 ? '' : 's'}` : `resource samples over ${secs(candidate.spanMs)} s`;
    const need = `${secs(t.minResourceSpanMs)} s of samples needed`;
    return [
      { metric: 'memory-growth', verdict: 'inconclusive', message: `${why}, ${need} to judge memory growth` },
      { metric: 'cpu-per-request', verdict: 'inconclusive', message: `${why}, ${need} to judge CPU per request` },
    ];
  }
  const usable = blue && blue.samples >= 2 ? blue : undefined;
  return [memory(candidate, usable, t), cpu(candidate, usable && usable.requests >= minRequests ? usable : undefined, t, minRequests)];
}

function memory(c: ResourceWindow, blue: ResourceWindow | undefined, t: ResourceThresholds): ResourceResult {
  const g = c.rssGrowthBytes;
  const text = `resident memory grew ${mb(g)} MB in ${secs(c.rssGrowthSpanMs ?? c.spanMs)} s, blue ${blue ? `${mb(blue.rssGrowthBytes)} MB` : 'not measured'}`;
  const overBlue = blue === undefined || g > t.memoryGrowthRatio * Math.max(0, blue.rssGrowthBytes) + t.memoryGrowthMarginBytes;
  if (g > t.maxMemoryGrowthBytes && overBlue) return { metric: 'memory-growth', verdict: 'fail', value: g, message: text };
  return { metric: 'memory-growth', verdict: 'pass', value: g, message: text };
}

function cpu(c: ResourceWindow, blue: ResourceWindow | undefined, t: ResourceThresholds, minRequests: number): ResourceResult {
  if (c.requests < minRequests) return { metric: 'cpu-per-request', verdict: 'skipped', message: `${c.requests} requests in the resource samples, ${minRequests} needed to judge CPU per request` };
  const per = (c.cpuSeconds * 1000) / c.requests;
  if (!blue) return { metric: 'cpu-per-request', verdict: 'skipped', value: per, message: `CPU ${ms(per)} ms per request over ${c.requests} requests, no blue figure to compare` };
  const bluePer = (blue.cpuSeconds * 1000) / blue.requests;
  const text = `CPU ${ms(per)} ms per request over ${c.requests} requests, blue ${ms(bluePer)} ms`;
  if (per > t.maxCpuMsPerRequest && per > t.cpuRatio * bluePer) return { metric: 'cpu-per-request', verdict: 'fail', value: per, message: text };
  return { metric: 'cpu-per-request', verdict: 'pass', value: per, message: text };
}

const mb = (bytes: number): number => Math.round(bytes / MB);
const secs = (msv: number): number => Math.round(msv / 100) / 10;
const ms = (v: number): number => Math.round(v * 100) / 100;
