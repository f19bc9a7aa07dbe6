/**
 * Per-version counters and a latency histogram, kept in memory by a router; Prometheus text exposition; and
 * windows (what a version did between two times) for rollout analysis, from once-a-second snapshots.
 */
import type { VersionWindow } from '../domain/analysis.js';
import type { ResourceWindow } from '../domain/resource-analysis.js';
import type { SessionReason } from '../domain/reasons.js';
import { isMcpRequestMethod } from '../protocol/mcp-methods.js';

/**
 * The method label of every request whose method MCP does not define: the methods come from clients, so
 * one series per method name would let any client add series (and router memory) without bound.
 */
export const OTHER_METHOD = 'other';

/** Upper bounds of the latency buckets, in ms (the last bucket is +Inf). */
export const LATENCY_BUCKETS_MS = [0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** Cumulative figures of one version, as kept in memory and written to telemetry files. */
export interface Counters {
  sessionsStarted: number;
  requests: number;
  errors: number;
  toolCalls: number;
  toolErrors: number;
  transportFailures: number;
  crashes: number;
  /** Backend processes started again after one of the version's processes died (absent in older files). */
  restarts?: number;
  /** Lines from the version's backends that were not JSON-RPC, or over the size limit: dropped (absent in older files). */
  dropped?: number;
  /** One count per bucket plus +Inf. */
  latency: number[];
  latencySumMs: number;
}

export const zero = (): Counters => ({ sessionsStarted: 0, requests: 0, errors: 0, toolCalls: 0, toolErrors: 0, transportFailures: 0, crashes: 0, latency: LATENCY_BUCKETS_MS.map(() => 0).concat(0), latencySumMs: 0 });

/** A managed version's process as telemetry carries it (see managed/managed-process.ts ManagedStatus). */
export interface ManagedFigures {
  state: string;
  pid?: number;
  port?: number;
  url?: string;
  /** Epoch ms. */
  upSince?: number;
  restarts: number;
  lastExit?: string;
  rssBytes?: number;
  cpuSeconds?: number;
}

export class VersionMetrics {
  /** The figures of managed versions' processes, read when totals or /metrics are asked for (set by serve). */
  managedSource: (() => Map<string, ManagedFigures>) | undefined;
  private readonly series = new Map<string, { server: string; version: string; c: Counters; byMethod: Map<string, number>; left: Map<SessionReason, number>; active: number; processes: number }>();
  /**
   * Whether resource samples of managed versions can be taken here (their figures come from Linux's /proc):
   * where they cannot, windows carry no resources and the resource criteria are left out of the analysis,
   * instead of every managed rollout pausing for want of samples.
   */
  resourceSampling = process.platform === 'linux';
  private snapshots: { at: number; data: Map<string, Counters>; res?: Map<string, ResourceSample> }[] = [];

  private entry(server: string, version: string) {
    const key = `${server}\u0000${version}`;
    let e = this.series.get(key);
    if (!e) {
      e = { server, version, c: zero(), byMethod: new Map(), left: new Map(), active: 0, processes: 0 };
      this.series.set(key, e);
    }
    return e;
  }

  sessionStarted(server: string, version: string): void {
    const e = this.entry(server, version);
    e.c.sessionsStarted++;
    e.active++;
  }

  sessionEnded(server: string, version: string): void {
    this.entry(server, version).active--;
  }

  /**
   * A front ended a session of the version, or moved it to another version, for `reason` (not the client:
   * its DELETE or disconnect is not counted here). Reasons are a closed set, so the series stay bounded.
   */
  sessionLeft(server: string, version: string, reason: SessionReason): void {
    const e = this.entry(server, version);
    e.left.set(reason, (e.left.get(reason) ?? 0) + 1);
  }

  /**
   * One answered (or failed) request of `method`, `ms` long. A method outside MCP's set is counted under
   * `other` (OTHER_METHOD), so the series by method stay bounded whatever clients send.
   */
  request(server: string, version: string, method: string, ms: number, outcome: { error?: boolean; toolError?: boolean; transportFailure?: boolean }): void {
    const e = this.entry(server, version);
    e.c.requests++;
    const label = isMcpRequestMethod(method) ? method : OTHER_METHOD;
    e.byMethod.set(label, (e.byMethod.get(label) ?? 0) + 1);
    if (method === 'tools/call') e.c.toolCalls++;
    if (outcome.error || outcome.transportFailure) e.c.errors++;
    if (outcome.transportFailure) e.c.transportFailures++;
    if (outcome.toolError) e.c.toolErrors++;
    let i = LATENCY_BUCKETS_MS.findIndex((b) => ms <= b);
    if (i === -1) i = LATENCY_BUCKETS_MS.length;
    e.c.latency[i]!++;
    e.c.latencySumMs += ms;
  }

  crashed(server: string, version: string): void {
    this.entry(server, version).c.crashes++;
  }

  /** A backend process of the version started (`restart`: in place of one that died) or ended. */
  processStarted(server: string, version: string, restart = false): void {
    const e = this.entry(server, version);
    e.processes++;
    if (restart) e.c.restarts = (e.c.restarts ?? 0) + 1;
  }

  /** A backend line that was not a JSON-RPC message, or was too large, was dropped. */
  dropped(server: string, version: string): void {
    const c = this.entry(server, version).c;
    c.dropped = (c.dropped ?? 0) + 1;
  }

  processEnded(server: string, version: string): void {
    this.entry(server, version).processes--;
  }

  /** Every series' cumulative counters, requests by method, open sessions and running backend processes (for telemetry files and status). */
  totals(): SeriesTotals[] {
    const managed = this.managedSource?.() ?? new Map<string, ManagedFigures>();
    // A managed version that has had no traffic yet still has a process to show.
    for (const k of managed.keys()) if (!this.series.has(k)) this.entry(...(k.split('\u0000') as [string, string]));
    return [...this.series.entries()].map(([k, e]) => {
      const m = managed.get(k);
      return { server: e.server, version: e.version, active: e.active, processes: e.processes, byMethod: Object.fromEntries(e.byMethod), counters: structuredClone(e.c), ...(m ? { managed: m } : {}) };
    });
  }

  /** Records the cumulative counters at `now` (call about once a second); keeps `keepMs` of them. */
  snapshot(now: number, keepMs = 3_600_000): void {
    // Resource samples of managed versions' processes ride on the same snapshot, so a window's memory growth,
    // CPU time and requests are read between the very same two moments.
    const res = new Map<string, ResourceSample>();
    for (const [k, m] of this.managedSource?.() ?? []) {
      if (m.pid !== undefined && m.rssBytes !== undefined && m.cpuSeconds !== undefined) res.set(k, { pid: m.pid, rssBytes: m.rssBytes, cpuSeconds: m.cpuSeconds });
    }
    this.snapshots.push({ at: now, data: new Map([...this.series].map(([k, e]) => [k, structuredClone(e.c)])), ...(res.size > 0 ? { res } : {}) });
    const cut = this.snapshots.findIndex((s) => s.at >= now - keepMs);
    if (cut > 0) this.snapshots = this.snapshots.slice(cut);
  }

  /** What `version` did between `since` and now (the latest counters), from the snapshot at or before `since`. */
  window(server: string, version: string, since: number): VersionWindow {
    const key = `${server}\u0000${version}`;
    const now = this.series.get(key)?.c ?? zero();
    // Before the first snapshot (or for a series born later) the base is zero.
    const base = [...this.snapshots].reverse().find((s) => s.at <= since)?.data.get(key) ?? zero();
    const w = windowBetween(base, now);
    const managed = this.resourceSampling && (this.managedSource?.().has(key) ?? false);
    return managed ? { ...w, resources: this.resourceWindow(key, since) } : w;
  }

  /**
   * A managed version's resource samples from `since` on: from the last sample at or before `since` (a whole
   * window) or the first one after it, to the latest, all of the latest process (growth across a restart would
   * compare two processes; the restart itself counts as a crash).
   */
  private resourceWindow(key: string, since: number): ResourceWindow {
    const sampled = this.snapshots.filter((s) => s.res?.has(key));
    const last = sampled.at(-1);
    if (!last) return { samples: 0, spanMs: 0, rssGrowthBytes: 0, cpuSeconds: 0, requests: 0 };
    const pid = last.res!.get(key)!.pid;
    const base = [...sampled].reverse().find((s) => s.at <= since);
    const chain = [...(base ? [base] : []), ...sampled.filter((s) => s.at > since)];
    let i = chain.length - 1;
    while (i > 0 && chain[i - 1]!.res!.get(key)!.pid === pid) i--;
    const first = chain[i]!;
    const a = first.res!.get(key)!;
    const b = last.res!.get(key)!;
    // Memory is judged over the later half of the samples: a fresh process's warm-up growth (heap sizing, caches
    // of first calls) comes early and levels off, while a leak goes on growing as long as calls come in.
    const mid = chain.slice(i).reverse().find((s) => s.at <= first.at + (last.at - first.at) / 2) ?? first;
    return {
      samples: chain.length - i,
      spanMs: last.at - first.at,
      rssGrowthBytes: b.rssBytes - mid.res!.get(key)!.rssBytes,
      rssGrowthSpanMs: last.at - mid.at,
      cpuSeconds: Math.max(0, Math.round((b.cpuSeconds - a.cpuSeconds) * 100) / 100),
      requests: Math.max(0, (last.data.get(key)?.requests ?? 0) - (first.data.get(key)?.requests ?? 0)),
    };
  }

  /** Prometheus text exposition of every series. */
  prometheus(extra: string[] = []): string {
    const lines: string[] = [];
    const head = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const lbl = (s: string, v: string, more = '') => `{server="${esc(s)}",version="${esc(v)}"${more}}`;
    const all = [...this.series.values()];
    head('mcp_rollout_sessions_active', 'gauge', 'Client sessions open now.');
    for (const e of all) lines.push(`mcp_rollout_sessions_active${lbl(e.server, e.version)} ${e.active}`);
    head('mcp_rollout_sessions_total', 'counter', 'Client sessions started.');
    for (const e of all) lines.push(`mcp_rollout_sessions_total${lbl(e.server, e.version)} ${e.c.sessionsStarted}`);
    head('mcp_rollout_sessions_ended_total', 'counter', 'Client sessions ended or moved off the version by the router or proxy, by reason code.');
    for (const e of all) for (const [r, n] of e.left) lines.push(`mcp_rollout_sessions_ended_total${lbl(e.server, e.version, `,reason="${r}"`)} ${n}`);
    head('mcp_rollout_requests_total', 'counter', 'Requests forwarded, by method.');
    for (const e of all) for (const [m, n] of e.byMethod) lines.push(`mcp_rollout_requests_total${lbl(e.server, e.version, `,method="${esc(m)}"`)} ${n}`);
    head('mcp_rollout_errors_total', 'counter', 'JSON-RPC error responses and transport failures.');
    for (const e of all) lines.push(`mcp_rollout_errors_total${lbl(e.server, e.version)} ${e.c.errors}`);
    head('mcp_rollout_transport_failures_total', 'counter', 'Backend unreachable or failed mid-request.');
    for (const e of all) lines.push(`mcp_rollout_transport_failures_total${lbl(e.server, e.version)} ${e.c.transportFailures}`);
    head('mcp_rollout_tool_errors_total', 'counter', 'tools/call results with isError: true.');
    for (const e of all) lines.push(`mcp_rollout_tool_errors_total${lbl(e.server, e.version)} ${e.c.toolErrors}`);
    head('mcp_rollout_backend_crashes_total', 'counter', 'Backend processes that exited unasked.');
    for (const e of all) lines.push(`mcp_rollout_backend_crashes_total${lbl(e.server, e.version)} ${e.c.crashes}`);
    head('mcp_rollout_backend_processes', 'gauge', 'Backend processes (stdio versions) running now.');
    for (const e of all) lines.push(`mcp_rollout_backend_processes${lbl(e.server, e.version)} ${e.processes}`);
    head('mcp_rollout_backend_restarts_total', 'counter', 'Backend processes started again after one died.');
    for (const e of all) lines.push(`mcp_rollout_backend_restarts_total${lbl(e.server, e.version)} ${e.c.restarts ?? 0}`);
    head('mcp_rollout_backend_dropped_total', 'counter', 'Backend output dropped: lines that were not JSON-RPC, messages over the size limit.');
    for (const e of all) lines.push(`mcp_rollout_backend_dropped_total${lbl(e.server, e.version)} ${e.c.dropped ?? 0}`);
    const managed = [...(this.managedSource?.() ?? new Map<string, ManagedFigures>())].map(([k, m]) => ({ k: k.split('\u0000') as [string, string], m }));
    if (managed.length > 0) {
      head('mcp_rollout_managed_up', 'gauge', 'A managed version\'s server process is running and answered its handshake (1) or not (0).');
      for (const { k, m } of managed) lines.push(`mcp_rollout_managed_up${lbl(...k)} ${m.state === 'ready' ? 1 : 0}`);
      head('mcp_rollout_managed_resident_memory_bytes', 'gauge', 'Resident memory of a managed version\'s process group, bytes.');
      for (const { k, m } of managed) if (m.rssBytes !== undefined) lines.push(`mcp_rollout_managed_resident_memory_bytes${lbl(...k)} ${m.rssBytes}`);
      head('mcp_rollout_managed_cpu_seconds', 'gauge', 'CPU time (user and system) of a managed version\'s running process group, seconds.');
      for (const { k, m } of managed) if (m.cpuSeconds !== undefined) lines.push(`mcp_rollout_managed_cpu_seconds${lbl(...k)} ${m.cpuSeconds}`);
      head('mcp_rollout_managed_start_time_seconds', 'gauge', 'When a managed version\'s running process became ready, since the Unix epoch.');
      for (const { k, m } of managed) if (m.upSince !== undefined) lines.push(`mcp_rollout_managed_start_time_seconds${lbl(...k)} ${Math.round(m.upSince / 1000)}`);
      head('mcp_rollout_managed_restarts', 'gauge', 'Starts of a managed version\'s process after it died, since the router started it.');
      for (const { k, m } of managed) lines.push(`mcp_rollout_managed_restarts${lbl(...k)} ${m.restarts}`);
    }
    head('mcp_rollout_request_duration_seconds', 'histogram', 'Time from request to response.');
    for (const e of all) {
      let cum = 0;
      LATENCY_BUCKETS_MS.forEach((b, i) => {
        cum += e.c.latency[i]!;
        lines.push(`mcp_rollout_request_duration_seconds_bucket${lbl(e.server, e.version, `,le="${b / 1000}"`)} ${cum}`);
      });
      cum += e.c.latency[LATENCY_BUCKETS_MS.length]!;
      lines.push(`mcp_rollout_request_duration_seconds_bucket${lbl(e.server, e.version, ',le="+Inf"')} ${cum}`);
      lines.push(`mcp_rollout_request_duration_seconds_sum${lbl(e.server, e.version)} ${e.c.latencySumMs / 1000}`);
      lines.push(`mcp_rollout_request_duration_seconds_count${lbl(e.server, e.version)} ${cum}`);
    }
    return [...lines, ...extra].join('\n') + '\n';
  }
}

/** One reading of a managed version's process group. */
interface ResourceSample {
  pid: number;
  rssBytes: number;
  cpuSeconds: number;
}

export interface SeriesTotals {
  server: string;
  version: string;
  active: number;
  /** Backend processes running now (absent in older files). */
  processes?: number;
  byMethod: Record<string, number>;
  counters: Counters;
  /** A managed version's process (routers only). */
  managed?: ManagedFigures;
}

/** Adds `b` into `a` (in place) and returns `a`. */
export function addCounters(a: Counters, b: Counters): Counters {
  for (const f of ['sessionsStarted', 'requests', 'errors', 'toolCalls', 'toolErrors', 'transportFailures', 'crashes', 'latencySumMs'] as const) a[f] += b[f];
  if (b.restarts) a.restarts = (a.restarts ?? 0) + b.restarts;
  if (b.dropped) a.dropped = (a.dropped ?? 0) + b.dropped;
  b.latency.forEach((n, i) => (a.latency[i] = (a.latency[i] ?? 0) + n));
  return a;
}

/** What happened between two cumulative readings (never negative: a reading that went back counts as zero). */
export function windowBetween(base: Counters, now: Counters): VersionWindow {
  const d = (f: keyof Omit<Counters, 'latency' | 'restarts' | 'dropped'>): number => Math.max(0, now[f] - base[f]);
  const hist = now.latency.map((n, i) => Math.max(0, n - (base.latency[i] ?? 0)));
  const p99 = percentile(hist, 0.99);
  return { requests: d('requests'), errors: d('errors'), toolCalls: d('toolCalls'), toolErrors: d('toolErrors'), crashes: d('crashes'), ...(p99 === undefined ? {} : { p99Ms: p99 }) };
}

/** The bucket upper bound (ms) at quantile `q` of a histogram; undefined when empty. */
export function percentile(hist: number[], q: number): number | undefined {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = Math.ceil(q * total);
  let cum = 0;
  for (let i = 0; i < hist.length; i++) {
    cum += hist[i]!;
    if (cum >= rank) return LATENCY_BUCKETS_MS[i] ?? LATENCY_BUCKETS_MS.at(-1)! * 2;
  }
  return undefined;
}

/** A label value as the Prometheus text format wants it: backslash, double quote and newline escaped. */
const esc = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
