/**
 * What the rollout runner needs when it runs inside a CLI command: the registry, telemetry, probes, a
 * sleep that ends early on Ctrl-C, and a live display of events.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { probeVersion } from '../pipeline/health-probe.js';
import type { RunnerDeps } from '../pipeline/rollout-runner.js';
import { routersTelemetry } from '../telemetry/router-directory.js';
import type { TelemetrySource } from '../pipeline/rollout-runner.js';
import { fleetTelemetryOf } from '../state/fleet-store.js';
import type { Store } from '../state/store.js';
import { fleetTelemetry } from '../telemetry/fleet-telemetry.js';
import { combinedTelemetry, fileTelemetry } from '../telemetry/telemetry-files.js';
import { projectStateDir } from '../state/scope-paths.js';
import type { CommandContext } from './command.js';
import { renderEvent } from './rollout-options.js';

export function runnerDeps(ctx: CommandContext): RunnerDeps {
  const signal = ctx.io.signal;
  const stateDir = projectStateDir({ cwd: ctx.io.cwd, env: ctx.io.env });
  return {
    registry: ctx.registry(),
    telemetry: analysisTelemetry(ctx.registry().store, stateDir, ctx.io.env.MCP_ROLLOUT_TOKEN),
    probe: (record) => probeVersion(record),
    sleep: (ms) => sleep(ms, undefined, signal ? { signal } : {}).catch(() => undefined),
    onEvent: (e) => ctx.print(renderEvent(e)),
    ...(signal ? { signal } : {}),
  };
}

/**
 * Where a rollout's analysis reads traffic: every stdio proxy's file under `stateDir`, plus every router of
 * the fleet as written to the database when `store` is one (routers on any host), else every router
 * announced in `stateDir` (mcp-rollout serve on this disk), asked over HTTP with `token`.
 */
export function analysisTelemetry(store: Store, stateDir: string, token: string | undefined): TelemetrySource {
  const fleet = fleetTelemetryOf(store);
  return combinedTelemetry([fleet ? fleetTelemetry(fleet) : routersTelemetry(stateDir, token), fileTelemetry(stateDir)]);
}

/** Exit code for how a driven rollout ended: 0 Healthy, 1 Degraded, 130 stopped by the user while still going. */
export function rolloutExit(phase: string): number {
  return phase === 'Healthy' ? 0 : phase === 'Degraded' ? 1 : 130;
}
