/**
 * The rollout runner: the I/O edge around the pure controller. Each tick it reads the registry (the
 * candidate's status and any command), the telemetry of the candidate and the blue since the analysis
 * window began, and a health probe now and then; it applies the controller's actions through the registry
 * and saves the status, so another runner can resume where this one stopped.
 */
import { hostname } from 'node:os';
import type { VersionWindow } from '../domain/analysis.js';
import { start, tick, type Action, type RolloutEvent, type RolloutSpec, type RolloutStatus } from '../domain/rollout-controller.js';
import { blueOf, findVersion, type ServerState, type VersionRecord } from '../domain/types.js';
import { AppError } from '../errors.js';
import { isProcessAlive } from '../process-alive.js';
import type { Registry } from '../registry/registry.js';

/** Where per-version behaviour comes from: the routers' telemetry. */
export interface TelemetrySource {
  /** What `version` of `server` did between `since` and `now` (epoch ms), summed over every router. */
  window(server: string, version: string, since: number, now: number): Promise<VersionWindow>;
}

export const EMPTY_WINDOW: VersionWindow = { requests: 0, errors: 0, toolCalls: 0, toolErrors: 0, crashes: 0 };

/** No routers report yet: every window is empty, so analysis is inconclusive and the rollout pauses. */
export const NO_TELEMETRY: TelemetrySource = { window: () => Promise.resolve(EMPTY_WINDOW) };

export interface RunnerDeps {
  registry: Registry;
  telemetry: TelemetrySource;
  /** An active health probe of one version; undefined for none. */
  probe?: (record: VersionRecord) => Promise<{ healthy: boolean; message: string }>;
  /** ms between probes (default 5000). */
  probeEveryMs?: number;
  /** ms between ticks (default 1000). */
  tickMs?: number;
  sleep: (ms: number) => Promise<void>;
  /** Each controller event, as it happens. */
  onEvent: (e: RolloutEvent) => void;
  /** Stops driving (the status stays saved and resumable). */
  signal?: AbortSignal;
}

/** Throws `conflict` when `server` has a rollout that a live process is still driving. */
export function assertNoRolloutInProgress(server: ServerState): void {
  const r = server.rollout;
  if (r && !isTerminal(r.status) && driverAlive(r.driver)) {
    throw new AppError('conflict', `server "${server.name}" already has a rollout in progress (${r.spec.version}: ${r.status.message}); abort it or let it finish`);
  }
}

/** Starts a rollout of `spec` and drives it to its end (or until `signal`). Returns the last status. */
export async function beginRollout(deps: RunnerDeps, spec: RolloutSpec): Promise<RolloutStatus> {
  await startRollout(deps, spec, true);
  return drive(deps, spec.server);
}

/**
 * Starts a rollout (its first step applied and saved) and leaves the driving to others: a running
 * `mcp-rollout serve` picks it up, or `mcp-rollout resume <name> --wait`. Returns the saved status.
 */
export function startDetached(deps: RunnerDeps, spec: RolloutSpec): Promise<RolloutStatus> {
  return startRollout(deps, spec, false);
}

async function startRollout(deps: RunnerDeps, spec: RolloutSpec, drivenHere: boolean): Promise<RolloutStatus> {
  assertNoRolloutInProgress((await deps.registry.get(spec.server)).server);
  const t = start(spec, deps.registry.now());
  await apply(deps, spec, t.actions, t.events);
  await deps.registry.saveRollout(spec.server, { spec, status: t.status, ...(drivenHere ? { driver: me() } : {}) }, t.events);
  t.events.forEach(deps.onEvent);
  return t.status;
}

/** Drives the saved rollout of `name` from where it is. Refused while another live process drives it. */
export async function resumeRollout(deps: RunnerDeps, name: string): Promise<RolloutStatus> {
  const { server } = await deps.registry.get(name);
  const r = server.rollout;
  if (!r) throw new AppError('conflict', `server "${name}" has no rollout to drive`);
  if (isTerminal(r.status)) return r.status;
  if (r.driver && driverAlive(r.driver) && r.driver.pid !== process.pid) {
    throw new AppError('conflict', `the rollout of "${name}" is already driven by process ${r.driver.pid}`);
  }
  await deps.registry.saveRollout(name, { spec: r.spec, status: r.status, driver: me() }, []);
  return drive(deps, name);
}

async function drive(deps: RunnerDeps, name: string): Promise<RolloutStatus> {
  const tickMs = deps.tickMs ?? 1000;
  const probeEvery = deps.probeEveryMs ?? 5000;
  let lastProbe = -Infinity;
  for (;;) {
    const { server } = await deps.registry.get(name);
    const r = server.rollout;
    if (!r) throw new AppError('conflict', `the rollout of "${name}" disappeared from the registry`);
    if (isTerminal(r.status) || deps.signal?.aborted) return r.status;
    const { spec } = r;
    const now = deps.registry.now();
    const candidate = findVersion(server, spec.version);
    const blue = blueOf(server);
    const since = r.status.windowStart;
    const [cw, sw] = await Promise.all([
      deps.telemetry.window(name, spec.version, since, now),
      blue && blue.version !== spec.version ? deps.telemetry.window(name, blue.version, since, now) : Promise.resolve(undefined),
    ]);
    let probe: { healthy: boolean; message: string } | undefined;
    if (deps.probe && candidate && candidate.status !== 'inactive' && now - lastProbe >= probeEvery) {
      lastProbe = now;
      probe = await deps.probe(candidate);
    }
    const t = tick(spec, r.status, {
      now,
      candidate: cw,
      ...(sw ? { stable: sw } : {}),
      candidateStatus: candidate?.status ?? 'missing',
      ...(probe ? { probe } : {}),
      ...(r.command ? { command: r.command } : {}),
    });
    await apply(deps, spec, t.actions, t.events);
    await deps.registry.saveRollout(name, { spec, status: t.status, ...(r.driver ? { driver: r.driver } : {}) }, t.events, r.command);
    t.events.forEach(deps.onEvent);
    if (isTerminal(t.status)) return t.status;
    await deps.sleep(tickMs);
  }
}

async function apply(deps: RunnerDeps, spec: RolloutSpec, actions: Action[], events: RolloutEvent[]): Promise<void> {
  const { registry } = deps;
  for (const a of actions) {
    try {
      if (a.type === 'set-weight') await registry.setTraffic(spec.server, spec.version, a.percent, `${spec.strategy} rollout`);
      else if (a.type === 'promote') await registry.promote(spec.server, spec.version, `${spec.strategy} rollout: all steps passed`);
      else await registry.rollback(spec.server, spec.version, a.reason);
    } catch (e) {
      // The registry refused (someone changed it meanwhile): say so; the next tick sees the new truth.
      events.push({ at: registry.now(), type: 'analysis', message: `could not ${a.type}: ${(e as Error).message}` });
    }
  }
}

const isTerminal = (s: RolloutStatus): boolean => s.phase === 'Healthy' || s.phase === 'Degraded';
const me = (): { pid: number; host: string } => ({ pid: process.pid, host: hostname() });

/** A driver on another host is taken to be alive (it cannot be checked from here). */
function driverAlive(d: { pid: number; host: string } | undefined): boolean {
  if (!d || d.host !== hostname()) return d !== undefined;
  return isProcessAlive(d.pid);
}
