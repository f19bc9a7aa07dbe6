/**
 * What the rollout runner needs when it runs inside a CLI command: the registry, telemetry, probes, a
 * sleep that ends early on Ctrl-C, and a live display of events.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { probeVersion } from '../pipeline/health-probe.js';
import { NO_TELEMETRY, type RunnerDeps } from '../pipeline/rollout-runner.js';
import type { CommandContext } from './command.js';
import { renderEvent } from './rollout-options.js';

export function runnerDeps(ctx: CommandContext): RunnerDeps {
  const signal = ctx.io.signal;
  return {
    registry: ctx.registry(),
    // Routers do not report per-version telemetry to the registry yet: analysis sees empty windows and
    // pauses the rollout (it never rolls back for lack of data); probes still catch a dead candidate.
    telemetry: NO_TELEMETRY,
    probe: (record) => probeVersion(record),
    sleep: (ms) => sleep(ms, undefined, signal ? { signal } : {}).catch(() => undefined),
    onEvent: (e) => ctx.print(renderEvent(e)),
    ...(signal ? { signal } : {}),
  };
}

/** Exit code for how a driven rollout ended: 0 Healthy, 1 Degraded, 130 stopped by the user while still going. */
export function rolloutExit(phase: string): number {
  return phase === 'Healthy' ? 0 : phase === 'Degraded' ? 1 : 130;
}
