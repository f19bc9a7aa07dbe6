/**
 * Canary analysis: one verdict from what a candidate and the stable version did over the same window.
 * Three outcomes: pass, fail, inconclusive ("not enough data" is never a failure). Pure.
 */
import { analyseResources, DEFAULT_RESOURCE_THRESHOLDS, type ResourceThresholds, type ResourceWindow } from './resource-analysis.js';

/** What one version did during a window, from the routers' telemetry (and probes). */
export interface VersionWindow {
  /** Requests answered or failed. */
  requests: number;
  /** JSON-RPC error responses plus transport failures. */
  errors: number;
  toolCalls: number;
  /** tools/call results with `isError: true`. */
  toolErrors: number;
  /** 99th percentile latency in ms over the window; undefined without samples. */
  p99Ms?: number;
  /** Backend exits nobody asked for, and restarts. */
  crashes: number;
  /**
   * Resource samples of the version's processes in the window: present for versions whose processes a router
   * runs (managed versions), absent otherwise (and then the resource criteria are not part of the analysis).
   */
  resources?: ResourceWindow;
}

export interface Thresholds extends Partial<ResourceThresholds> {
  /** Absolute ceiling of the candidate's error rate, 0-1. Default 0.10. */
  maxErrorRate: number;
  /** The candidate's error rate may exceed the stable version's by at most this, 0-1. Default 0.05. */
  maxErrorRateIncrease: number;
  /** Absolute ceiling of the candidate's tool isError rate, 0-1. Default 0.25. */
  maxToolErrorRate: number;
  /** Absolute p99 ceiling in ms; undefined for none. */
  maxP99Ms?: number;
  /** The candidate's p99 may be at most this multiple of the stable version's. Default 3. */
  maxP99Ratio: number;
  /** ...and a relative p99 failure also needs at least this many ms more than the stable version's. Default 100. */
  minP99IncreaseMs: number;
  /** Crashes tolerated in a window. Default 0. */
  maxCrashes: number;
  /** Requests needed before rates and latency are judged. Default 20. */
  minRequests: number;
  /** Tool calls needed before the tool error rate is judged. Default 10. */
  minToolCalls: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  maxErrorRate: 0.1,
  maxErrorRateIncrease: 0.05,
  maxToolErrorRate: 0.25,
  maxP99Ratio: 3,
  minP99IncreaseMs: 100,
  maxCrashes: 0,
  minRequests: 20,
  minToolCalls: 10,
  ...DEFAULT_RESOURCE_THRESHOLDS,
};

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export interface MetricResult {
  metric: 'error-rate' | 'tool-error-rate' | 'p99-latency' | 'crashes' | 'memory-growth' | 'cpu-per-request';
  verdict: Verdict | 'skipped';
  /** The measured value (a rate 0-1, ms, or a count); undefined without data. */
  value?: number;
  /** One sentence with the figures: "error rate 31% > 10% over 212 requests". */
  message: string;
}

export interface Analysis {
  verdict: Verdict;
  /** The failing (or, when inconclusive, the starving) metrics' messages joined; "all checks passed" on pass. */
  reason: string;
  metrics: MetricResult[];
}

const pct = (r: number): string => `${Math.round(r * 1000) / 10}%`;

/** Judges `candidate` against the absolute thresholds and against `stable` over the same window. */
export function analyse(candidate: VersionWindow, stable: VersionWindow | undefined, t: Thresholds = DEFAULT_THRESHOLDS): Analysis {
  const metrics: MetricResult[] = [];

  const crashes: MetricResult =
    candidate.crashes > t.maxCrashes
      ? { metric: 'crashes', verdict: 'fail', value: candidate.crashes, message: `${candidate.crashes} backend crash${candidate.crashes === 1 ? '' : 'es'} > ${t.maxCrashes} allowed` }
      : { metric: 'crashes', verdict: 'pass', value: candidate.crashes, message: `${candidate.crashes} backend crashes` };

  if (candidate.requests < t.minRequests) {
    metrics.push({ metric: 'error-rate', verdict: 'inconclusive', message: `only ${candidate.requests} requests, ${t.minRequests} needed to judge the error rate` });
  } else {
    const rate = candidate.errors / candidate.requests;
    const over = `over ${candidate.requests} requests`;
    const base = stable && stable.requests >= t.minRequests ? stable.errors / stable.requests : undefined;
    if (rate > t.maxErrorRate) {
      metrics.push({ metric: 'error-rate', verdict: 'fail', value: rate, message: `error rate ${pct(rate)} > ${pct(t.maxErrorRate)} ${over}` });
    } else if (base !== undefined && rate > base + t.maxErrorRateIncrease) {
      metrics.push({ metric: 'error-rate', verdict: 'fail', value: rate, message: `error rate ${pct(rate)} > stable ${pct(base)} + ${pct(t.maxErrorRateIncrease)} ${over}` });
    } else {
      metrics.push({ metric: 'error-rate', verdict: 'pass', value: rate, message: `error rate ${pct(rate)} ${over}` });
    }
  }

  if (candidate.toolCalls < t.minToolCalls) {
    metrics.push({ metric: 'tool-error-rate', verdict: 'skipped', message: `${candidate.toolCalls} tool calls, ${t.minToolCalls} needed to judge tool errors` });
  } else {
    const rate = candidate.toolErrors / candidate.toolCalls;
    const over = `over ${candidate.toolCalls} tool calls`;
    metrics.push(
      rate > t.maxToolErrorRate
        ? { metric: 'tool-error-rate', verdict: 'fail', value: rate, message: `tool error rate ${pct(rate)} > ${pct(t.maxToolErrorRate)} ${over}` }
        : { metric: 'tool-error-rate', verdict: 'pass', value: rate, message: `tool error rate ${pct(rate)} ${over}` },
    );
  }

  const p99 = candidate.p99Ms;
  if (p99 === undefined || candidate.requests < t.minRequests) {
    metrics.push({ metric: 'p99-latency', verdict: 'skipped', message: 'not enough latency samples' });
  } else if (t.maxP99Ms !== undefined && p99 > t.maxP99Ms) {
    metrics.push({ metric: 'p99-latency', verdict: 'fail', value: p99, message: `p99 latency ${round(p99)} ms > ${t.maxP99Ms} ms` });
  } else if (stable?.p99Ms !== undefined && stable.requests >= t.minRequests && p99 > stable.p99Ms * t.maxP99Ratio && p99 - stable.p99Ms >= t.minP99IncreaseMs) {
    // The absolute floor keeps noise (a fresh process warming up, a busy machine) from failing a healthy canary.
    metrics.push({ metric: 'p99-latency', verdict: 'fail', value: p99, message: `p99 latency ${round(p99)} ms > ${t.maxP99Ratio}x stable ${round(stable.p99Ms)} ms` });
  } else {
    metrics.push({ metric: 'p99-latency', verdict: 'pass', value: p99, message: `p99 latency ${round(p99)} ms` });
  }

  metrics.push(crashes);
  // Rollouts saved before the resource criteria existed carry thresholds without them: the defaults fill in.
  if (candidate.resources) metrics.push(...analyseResources(candidate.resources, stable?.resources, { ...DEFAULT_RESOURCE_THRESHOLDS, ...definedOnly(t) }, t.minRequests));
  const failed = metrics.filter((m) => m.verdict === 'fail');
  if (failed.length > 0) return { verdict: 'fail', reason: failed.map((m) => m.message).join('; '), metrics };
  const starving = metrics.filter((m) => m.verdict === 'inconclusive');
  if (starving.length > 0) return { verdict: 'inconclusive', reason: starving.map((m) => m.message).join('; '), metrics };
  return { verdict: 'pass', reason: metrics.filter((m) => m.verdict === 'pass').map((m) => m.message).join('; '), metrics };
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

/** The resource thresholds `t` sets (a saved spec may hold none of them). */
function definedOnly(t: Thresholds): Partial<ResourceThresholds> {
  return Object.fromEntries(Object.keys(DEFAULT_RESOURCE_THRESHOLDS).filter((k) => t[k as keyof ResourceThresholds] !== undefined).map((k) => [k, t[k as keyof ResourceThresholds]]));
}
