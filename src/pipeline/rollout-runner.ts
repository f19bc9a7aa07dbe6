/**
 * The rollout runner: the I/O edge around the pure controller. Each tick it reads the registry (the
 * candidate's status and any command), the telemetry of the candidate and the blue since the analysis
 * window began, and a health probe now and then; it applies the controller's actions through the registry
 * and saves the status, so another runner can resume where this one stopped.
 *
 * One rollout has one driver at a time, recorded in it. Taking over an orphaned rollout is an atomic claim
 * that names the driver found dead (`Registry.claimRollout`); each tick's actions and status are written in
 * one locked write that first checks this runner still is the driver (`Registry.commitRolloutTick`), so a
 * runner that was taken over stops without acting again. On a store with leases (the database, the files) the
 * driver also holds a lease on the rollout (rollout-lease.ts), renewed while it drives and confirmed before
 * each commit; a driver is dead once its lease has run out, on whichever host it ran (at once on this host
 * when its pid is).
 */
import { hostname } from 'node:os';
import { driverAlive, driverLive, LEASE_MS, takeLease, type HeldLease } from './rollout-lease.js';
import type { VersionWindow } from '../domain/analysis.js';
import { start, tick, type RolloutEvent, type RolloutSpec, type RolloutStatus } from '../domain/rollout-controller.js';
import { sameDriver } from '../domain/registry-ops.js';
import { blueOf, findVersion, type RolloutDriver, type ServerState, type VersionRecord } from '../domain/types.js';
import { AppError } from '../errors.js';
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
  /**
   * Who this runner is, as recorded in the rollouts it drives (default: this process, its pid and host
   * name). The pid must be a live process on this host for others to leave the rollout alone; two runners
   * in one process (tests) need distinct identities.
   */
  self?: RolloutDriver;
  /** ms a driver's lease on its rollout lasts without renewal, on a store that keeps leases (default LEASE_MS). */
  leaseMs?: number;
}

export { driverAlive, driverLive, LEASE_MS };

/**
 * Throws `conflict` when `server` has a rollout that a live process is still driving, judged as `startRollout`
 * judges it (`driverLive`): by its pid on this host, and by its lease, whatever its host. A rollout whose
 * driver is dead (or that has none) may be replaced.
 */
export async function assertNoRolloutInProgress(registry: Registry, server: ServerState): Promise<void> {
  const r = server.rollout;
  if (r && !isTerminal(r.status) && (await driverLive(registry, server.name, r.driver))) throw inProgress(server);
}

/** Starts a rollout of `spec` and drives it to its end (or until `signal`). Returns the last status. */
export async function beginRollout(deps: RunnerDeps, spec: RolloutSpec): Promise<RolloutStatus> {
  const { lease } = await startRollout(deps, spec, true);
  return drive(deps, spec.server, lease!);
}

/**
 * Starts a rollout (its first step applied and saved) and leaves the driving to others: a running
 * `mcp-rollout serve` picks it up, or `mcp-rollout resume <name> --wait`. Returns the saved status.
 */
export async function startDetached(deps: RunnerDeps, spec: RolloutSpec, before: RolloutEvent[] = []): Promise<RolloutStatus> {
  return (await startRollout(deps, spec, false, before)).status;
}

/** `before`: what happened to the candidate before its first step (validated, started and ready), logged after `started`. */
async function startRollout(deps: RunnerDeps, spec: RolloutSpec, drivenHere: boolean, before: RolloutEvent[] = []): Promise<{ status: RolloutStatus; lease?: HeldLease }> {
  const { server } = await deps.registry.get(spec.server);
  const r = server.rollout;
  if (r && !isTerminal(r.status) && (await driverLive(deps.registry, spec.server, r.driver))) throw inProgress(server);
  // A runner that drives takes the lease before it is recorded as the driver, so no router finds it dead meanwhile.
  const lease = drivenHere ? await takeLease(deps.registry, spec.server, me(deps), deps.leaseMs) : undefined;
  if (drivenHere && !lease) throw inProgress(server);
  try {
    const s = start(spec, deps.registry.now());
    const t = { ...s, events: [...s.events.slice(0, 1), ...before, ...s.events.slice(1)] };
    // The first step and the record in one write, refused if another rollout started since the check above.
    const next = { spec, status: t.status, ...(drivenHere ? { driver: me(deps) } : {}) };
    const done = await deps.registry.commitRolloutTick(spec.server, { actions: t.actions, next, events: t.events }, { replacing: server.rollout });
    done.events.forEach(deps.onEvent);
    return { status: t.status, ...(lease ? { lease } : {}) };
  } catch (e) {
    await lease?.release();
    throw e;
  }
}

function inProgress(server: ServerState): AppError {
  const r = server.rollout!;
  return new AppError('conflict', `server "${server.name}" already has a rollout in progress (${r.spec.version}: ${r.status.message}); abort it or let it finish`);
}

/**
 * Drives the saved rollout of `name` from where it is, after claiming it (see `Registry.claimRollout`) and,
 * on a store with leases, taking its lease. Throws AppError `conflict` when there is no rollout, or when
 * another live process drives it or claimed it first. Returns the last status (at once when the rollout
 * already ended).
 */
export async function resumeRollout(deps: RunnerDeps, name: string): Promise<RolloutStatus> {
  const self = me(deps);
  const { server } = await deps.registry.get(name);
  const r = server.rollout;
  if (!r) throw new AppError('conflict', `server "${name}" has no rollout to drive`);
  if (isTerminal(r.status)) return r.status;
  const busy = (d: RolloutDriver): AppError => new AppError('conflict', `the rollout of "${name}" is already driven by process ${d.pid} on ${d.host}`);
  if (r.driver && !sameDriver(r.driver, self) && (await driverLive(deps.registry, name, r.driver))) throw busy(r.driver);
  // Of two processes that both found the lease run out, one takes it; the other hears who drives.
  const lease = await takeLease(deps.registry, name, self, deps.leaseMs);
  if (!lease) throw new AppError('conflict', `the rollout of "${name}" is already driven by another process (it holds the rollout's lease)`);
  try {
    // Atomic: applies only if the driver is still the one just found dead (or none), so of two processes that
    // both found it orphaned, one drives it and the other gets a conflict naming the first.
    const claimed = (await deps.registry.claimRollout(name, self, r.driver)).server.rollout;
    if (claimed && isTerminal(claimed.status)) {
      await lease.release();
      return claimed.status;
    }
  } catch (e) {
    await lease.release();
    throw e;
  }
  return drive(deps, name, lease);
}

/** Drives the rollout of `name` while `lease` holds; gives the lease up when it stops, however it stops. */
async function drive(deps: RunnerDeps, name: string, lease: HeldLease): Promise<RolloutStatus> {
  try {
    return await driveHeld(deps, name, lease);
  } finally {
    await lease.release();
  }
}

async function driveHeld(deps: RunnerDeps, name: string, lease: HeldLease): Promise<RolloutStatus> {
  const self = me(deps);
  const tickMs = deps.tickMs ?? 1000;
  const probeEvery = deps.probeEveryMs ?? 5000;
  let lastProbe = -Infinity;
  let probing = false;
  for (;;) {
    const { server } = await deps.registry.get(name);
    const r = server.rollout;
    if (!r) throw new AppError('conflict', `the rollout of "${name}" disappeared from the registry`);
    if (isTerminal(r.status) || deps.signal?.aborted) return r.status;
    // Another process took the rollout over (it found this one dead): it is theirs now; stop without a word.
    if (!sameDriver(r.driver, self)) return r.status;
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
    if (deps.probe && candidate && candidate.status !== 'inactive' && now - lastProbe >= probeEvery && !probing) {
      lastProbe = now;
      probing = true;
      const running = deps.probe(candidate).finally(() => (probing = false));
      // A probe that does not finish (seen on a router under load) must not stop the rollout: this tick goes on
      // without it, and no other probe starts until it settles.
      let timer: ReturnType<typeof setTimeout> | undefined;
      probe = await Promise.race([running, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), PROBE_WAIT_MS)))]);
      clearTimeout(timer);
    }
    const t = tick(spec, r.status, {
      now,
      candidate: cw,
      ...(sw ? { stable: sw } : {}),
      candidateStatus: candidate?.status ?? 'missing',
      ...(probe ? { probe } : {}),
      ...(r.command ? { command: r.command } : {}),
    });
    // The lease ran out (this process stalled longer than it lasts): another may have taken the rollout; act no more.
    if (!(await lease.confirm())) return r.status;
    // Taken over since the read above: nothing of this tick is applied, and this runner stops.
    const done = await deps.registry.commitRolloutTick(name, { actions: t.actions, next: { spec, status: t.status, driver: self }, events: t.events, ...(r.command ? { consumed: r.command } : {}) }, { driving: self });
    if (done.superseded) return done.server.rollout?.status ?? r.status;
    done.events.forEach(deps.onEvent);
    if (isTerminal(t.status)) return t.status;
    await deps.sleep(tickMs);
  }
}

/** The longest a tick waits for a health probe (each probe bounds its handshake and listing at 5 s). */
const PROBE_WAIT_MS = 15_000;

const isTerminal = (s: RolloutStatus): boolean => s.phase === 'Healthy' || s.phase === 'Degraded';
/** The identity a runner with `deps` drives under: `deps.self`, else this process. */
export const me = (deps: Pick<RunnerDeps, 'self'>): RolloutDriver => deps.self ?? { pid: process.pid, host: hostname() };
