/**
 * Telemetry shared through files: each proxy (one per client) keeps its counters in memory and writes them,
 * cumulative, to `<state dir>/telemetry/proxy-<pid>.json` at least every second and when it exits, so many
 * proxies report without a write per request. Readers sum the files: `mcp-status`, and rollout runners
 * (which turn cumulative readings into windows by remembering earlier ones).
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VersionWindow } from '../domain/analysis.js';
import type { ResourceWindow } from '../domain/resource-analysis.js';
import type { TelemetrySource } from '../pipeline/rollout-runner.js';
import { addCounters, windowBetween, zero, type Counters, type SeriesTotals, type VersionMetrics } from './version-metrics.js';

/** Files not updated for this long belong to proxies long gone; they are removed. */
const STALE_MS = 10 * 60_000;

export interface TelemetryFile {
  pid: number;
  updatedAt: number;
  series: SeriesTotals[];
}

const dirOf = (stateDir: string): string => join(stateDir, 'telemetry');

/**
 * Writes `metrics` every `everyMs` (default 1000); the returned function writes a last time and stops.
 * Only into an existing `stateDir` (its `telemetry/` is made as needed): a proxy started outside any project
 * must not create a state directory, which would then be the project root of every command run below it.
 */
export function startTelemetryWriter(stateDir: string, metrics: VersionMetrics, everyMs = 1000): () => Promise<void> {
  const file = join(dirOf(stateDir), `proxy-${process.pid}.json`);
  let writing: Promise<void> = Promise.resolve();
  const write = (): Promise<void> =>
    (writing = writing.then(async () => {
      const body: TelemetryFile = { pid: process.pid, updatedAt: Date.now(), series: metrics.totals() };
      try {
        // Not recursive: no state directory (ENOENT) means no registry here, and nothing is written.
        await mkdir(dirOf(stateDir)).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
        await writeFile(`${file}.tmp`, JSON.stringify(body));
        await rename(`${file}.tmp`, file);
      } catch {
        // Telemetry is best effort: serving the client matters more than reporting on it.
      }
    }));
  const timer = setInterval(() => void write(), everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await write();
  };
}

/** Every telemetry file under `stateDir` (stale ones removed on the way). */
export async function readTelemetryFiles(stateDir: string): Promise<TelemetryFile[]> {
  let names: string[];
  try {
    names = await readdir(dirOf(stateDir));
  } catch {
    return [];
  }
  const out: TelemetryFile[] = [];
  for (const n of names.filter((x) => x.endsWith('.json'))) {
    const file = join(dirOf(stateDir), n);
    try {
      if (Date.now() - (await stat(file)).mtimeMs > STALE_MS) {
        await rm(file, { force: true });
        continue;
      }
      out.push(JSON.parse(await readFile(file, 'utf8')) as TelemetryFile);
    } catch {
      // a file being replaced right now: the next reading has it
    }
  }
  return out;
}

/** The summed counters of every file for one version. */
export function sumFor(files: readonly TelemetryFile[], server: string, version: string): Counters {
  const total = zero();
  for (const f of files) for (const s of f.series) if (s.server === server && s.version === version) addCounters(total, s.counters);
  return total;
}

/**
 * A TelemetrySource over the proxies' files. Files hold cumulative counters, so it remembers its readings
 * and answers a window from the reading taken at or before its start (the first reading, before that).
 */
export function fileTelemetry(stateDir: string): TelemetrySource {
  const readings = new Map<string, { at: number; c: Counters }[]>();
  return {
    async window(server, version, since, now): Promise<VersionWindow> {
      const total = sumFor(await readTelemetryFiles(stateDir), server, version);
      const k = `${server}\u0000${version}`;
      const h = readings.get(k) ?? [];
      h.push({ at: now, c: total });
      while (h.length > 1 && h[0]!.at < now - 3_600_000) h.shift();
      readings.set(k, h);
      const base = [...h].reverse().find((r) => r.at <= since) ?? h[0]!;
      return windowBetween(base.c, total);
    },
  };
}

/** Sums several sources (proxies' files and routers), for one view of every client. */
export function combinedTelemetry(sources: readonly TelemetrySource[]): TelemetrySource {
  return {
    async window(server, version, since, now) {
      return sumWindows(await Promise.all(sources.map((s) => s.window(server, version, since, now))));
    },
  };
}

/**
 * Windows added up. The p99 of the sum is the largest p99: conservative, never better than the worst
 * reporter saw.
 */
export function sumWindows(windows: readonly (VersionWindow | undefined)[]): VersionWindow {
  const sum: VersionWindow = { requests: 0, errors: 0, toolCalls: 0, toolErrors: 0, crashes: 0 };
  for (const w of windows) {
    if (!w) continue;
    sum.requests += w.requests;
    sum.errors += w.errors;
    sum.toolCalls += w.toolCalls;
    sum.toolErrors += w.toolErrors;
    sum.crashes += w.crashes;
    if (w.p99Ms !== undefined) sum.p99Ms = Math.max(sum.p99Ms ?? 0, w.p99Ms);
    if (w.resources) sum.resources = sumResources(sum.resources, w.resources);
  }
  return sum;
}

/**
 * Two routers' resource windows of one version (each runs a process of its own): CPU and requests add up; the
 * growth is the larger one (a leak in one process is a leak, whatever the other did); samples and span are the
 * smaller, so a router that sampled too little keeps the verdict from being reached early.
 */
function sumResources(a: ResourceWindow | undefined, b: ResourceWindow): ResourceWindow {
  if (!a) return { ...b };
  return {
    samples: Math.min(a.samples, b.samples),
    spanMs: Math.min(a.spanMs, b.spanMs),
    ...(a.rssGrowthBytes >= b.rssGrowthBytes ? { rssGrowthBytes: a.rssGrowthBytes, ...(a.rssGrowthSpanMs === undefined ? {} : { rssGrowthSpanMs: a.rssGrowthSpanMs }) } : { rssGrowthBytes: b.rssGrowthBytes, ...(b.rssGrowthSpanMs === undefined ? {} : { rssGrowthSpanMs: b.rssGrowthSpanMs }) }),
    cpuSeconds: a.cpuSeconds + b.cpuSeconds,
    requests: a.requests + b.requests,
  };
}
