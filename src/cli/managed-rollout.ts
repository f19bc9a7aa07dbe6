/**
 * A blue/green or canary rollout of a managed version from `mcp-deploy`. The version's server runs inside
 * `mcp-rollout serve`, so a rollout is driven there (its health probes reach the running green; a process of the
 * deploy command could only see the stored port-0 URL). Deploy registers the green, waits until the router has
 * started it and its handshake answered (so no traffic is switched to a server still starting), starts the
 * rollout for the router to drive, and, in the foreground, prints the rollout's events as the router writes them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { listRouters, type RouterEntry } from '../telemetry/router-directory.js';
import { fleetTelemetryOf } from '../state/fleet-store.js';
import { FRESH_MS } from '../telemetry/fleet-telemetry.js';
import type { RolloutEvent, RolloutStatus } from '../domain/rollout-controller.js';
import { AppError } from '../errors.js';
import { projectStateDir } from '../state/scope-paths.js';
import { usageByVersion } from '../telemetry/usage.js';
import type { ManagedFigures } from '../telemetry/version-metrics.js';
import type { CommandContext } from './command.js';

/** How long deploy waits for a router to report the green ready (serve's --ready-timeout is 30 s by default), ms. */
const READY_WAIT_MS = 60_000;
/** Between two readings of the routers' figures or the registry, ms. */
const POLL_MS = 250;

/**
 * The routers running on this registry: on a database, every `serve` of the fleet whose telemetry batch is fresh
 * (any host; a router writes one a second); on files, those announced in the project's state directory. A
 * database that cannot be read counts as no router (the command that needs one says so).
 */
export async function runningRouters(ctx: CommandContext): Promise<RouterEntry[]> {
  const fleet = fleetTelemetryOf(ctx.registry().store);
  if (!fleet) return listRouters(projectStateDir({ cwd: ctx.io.cwd, env: ctx.io.env }));
  const reports = await fleet.readTelemetry(FRESH_MS).catch(() => []);
  return reports.filter((r) => r.ageMs <= FRESH_MS).map((r) => ({ pid: r.router.pid, url: r.router.url }));
}

/** The routers of the project; refuses a foreground rollout when none runs (nothing would run the green). */
export async function routersForManagedRollout(ctx: CommandContext, name: string, version: string, detach: boolean): Promise<RouterEntry[]> {
  const routers = await runningRouters(ctx);
  if (routers.length === 0 && !detach) {
    throw new AppError('conflict', `${name}@${version} is a managed version: managed versions roll out under mcp-rollout serve: start it, then deploy with --detach`);
  }
  return routers;
}

/**
 * Waits until a running router reports `version`'s server ready and returns its figures (pid, port). Throws
 * AppError `conflict` naming the version and what the router last said when it is not ready in time.
 */
export async function waitManagedReady(ctx: CommandContext, name: string, version: string): Promise<ManagedFigures> {
  const stateDir = projectStateDir({ cwd: ctx.io.cwd, env: ctx.io.env });
  const until = Date.now() + READY_WAIT_MS;
  let last: ManagedFigures | undefined;
  for (;;) {
    last = (await usageByVersion(stateDir, ctx.io.env.MCP_ROLLOUT_TOKEN, fleetTelemetryOf(ctx.registry().store))).get(`${name}\u0000${version}`)?.managed ?? last;
    if (last?.state === 'ready' && last.pid !== undefined) return last;
    if (Date.now() > until || ctx.io.signal?.aborted) {
      const said = last ? `${last.state}${last.lastExit ? `: ${last.lastExit}` : ''}` : 'not started by any running router';
      throw new AppError('conflict', `${name}@${version}: the router did not report its server ready within ${READY_WAIT_MS / 1000} s (${said}); the version stays green at 0%`);
    }
    await sleep(POLL_MS, undefined, ctx.io.signal ? { signal: ctx.io.signal } : {}).catch(() => undefined);
  }
}

/** The rollout's first events from deploy's side: the gate's verdict and the green's process, ready. */
export function phaseEvents(at: number, version: string, checks: number | undefined, ready: ManagedFigures): RolloutEvent[] {
  return [
    ...(checks === undefined ? [] : [{ at, type: 'validated' as const, message: `${version} passed validation (${checks} checks, on a private instance)` }]),
    { at, type: 'process' as const, message: `green ${version} started by the router: pid ${ready.pid}, port ${ready.port ?? '-'}, ready (MCP handshake answered)` },
  ];
}

/**
 * Follows the rollout of `name` (started at `startedAt`) in the registry, handing each new event to `onEvent`,
 * until it ends; returns its last status. Stops early (the status then is not finished) on Ctrl-C.
 */
export async function followRollout(ctx: CommandContext, name: string, startedAt: number, onEvent: (e: RolloutEvent) => void): Promise<RolloutStatus> {
  let shown = 0;
  for (;;) {
    const r = (await ctx.registry().get(name)).server.rollout;
    if (!r || r.status.startedAt !== startedAt) throw new AppError('conflict', `the rollout of "${name}" was replaced or removed while deploy followed it`);
    // Events are kept newest-last, at most 200: show those after the ones shown, counted from this rollout's `started`.
    const from = r.events.findIndex((e) => e.type === 'started' && e.at === startedAt);
    const mine = from === -1 ? r.events : r.events.slice(from);
    mine.slice(shown).forEach(onEvent);
    shown = mine.length;
    if (r.status.phase === 'Healthy' || r.status.phase === 'Degraded' || ctx.io.signal?.aborted) return r.status;
    await sleep(POLL_MS, undefined, ctx.io.signal ? { signal: ctx.io.signal } : {}).catch(() => undefined);
  }
}
