/**
 * Rollouts inside a long-running router: any rollout in progress whose driver is gone (a foreground
 * `mcp-deploy --strategy` that was stopped, a router that restarted) is picked up and driven from where its
 * saved status says it is. A rollout with a live driver is left to it. Several routers may supervise one
 * registry: taking a rollout over is an atomic claim, so each orphan is driven by exactly one of them. On a
 * store with leases (the database, the files), a driver is alive while its lease is, and the supervisor
 * looks again the moment a live driver's lease would run out, so a dead driver is replaced within one lease.
 * Meanwhile it reads the telemetry of rollouts others drive (at most once a second each): sources that turn
 * cumulative counters into windows remember their readings, so a router that takes a rollout over judges
 * the step from near its start rather than from the takeover.
 */
import type { RolloutEvent } from '../domain/rollout-controller.js';
import { sameDriver } from '../domain/registry-ops.js';
import type { LiveView } from '../registry/live-view.js';
import { driverLive } from './rollout-lease.js';
import { me, resumeRollout, type RunnerDeps } from './rollout-runner.js';

/**
 * Watches `view` (on every change and every `everyMs`, default 5000) and drives orphaned rollouts with
 * `deps` (`deps.self` is this router's identity as a driver). Returns the function that stops watching; it
 * resolves once every rollout driven here has stopped (they stop at `deps.signal`), so the caller may close
 * the store after it (a driver still writing would open it again: a database pool then held the process for
 * its idle timeout, a minute).
 */
export function superviseRollouts(view: LiveView, deps: Omit<RunnerDeps, 'onEvent'>, onEvent: (server: string, e: RolloutEvent) => void, everyMs = 5000): () => Promise<void> {
  const self = me(deps);
  const driving = new Set<string>();
  const drivers = new Set<Promise<unknown>>();
  // Servers being judged right now (the lease check is I/O), so overlapping looks do not claim twice.
  const judging = new Set<string>();
  let recheck: NodeJS.Timeout | undefined;
  const sampled = new Map<string, number>();
  const sample = (name: string, r: NonNullable<ReturnType<LiveView['get']>>['rollout'] & object): void => {
    const now = deps.registry.now();
    if (now - (sampled.get(name) ?? -Infinity) < 1000) return;
    sampled.set(name, now);
    const blue = view.get(name)?.versions.find((v) => v.status === 'blue')?.version;
    for (const version of new Set([r.spec.version, ...(blue ? [blue] : [])])) {
      deps.telemetry.window(name, version, r.status.windowStart, now).catch(() => undefined);
    }
  };
  const lookAgainIn = (ms: number): void => {
    clearTimeout(recheck);
    recheck = setTimeout(look, Math.ceil(ms) + 50);
    recheck.unref();
  };
  const consider = async (name: string): Promise<void> => {
    const r = view.get(name)?.rollout;
    if (!r || r.status.phase === 'Healthy' || r.status.phase === 'Degraded' || driving.has(name) || deps.signal?.aborted) return;
    // Ours already (started in this process), or a live driver's. The view may be stale: the claim is what decides.
    if (sameDriver(r.driver, self)) return;
    if (await driverLive(deps.registry, name, r.driver, lookAgainIn)) return sample(name, r);
    if (driving.has(name) || deps.signal?.aborted) return;
    driving.add(name);
    const driver = resumeRollout({ ...deps, self, onEvent: (e) => onEvent(name, e) }, name)
      .catch(() => undefined) // another router (or `resume --wait`) claimed it first: its rollout, not ours
      .finally(() => {
        driving.delete(name);
        drivers.delete(driver);
      });
    drivers.add(driver);
  };
  const look = (): void => {
    for (const name of view.names()) {
      if (judging.has(name)) continue;
      judging.add(name);
      consider(name)
        .catch(() => undefined) // the store cannot be reached: the next look tries again
        .finally(() => judging.delete(name));
    }
  };
  view.on('change', look);
  const timer = setInterval(look, everyMs);
  timer.unref();
  look();
  return async () => {
    view.off('change', look);
    clearInterval(timer);
    clearTimeout(recheck);
    await Promise.all([...drivers]);
  };
}
