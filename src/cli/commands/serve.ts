import { AppError } from '../../errors.js';
import { announceRouter } from '../../telemetry/router-directory.js';
import { LiveView } from '../../registry/live-view.js';
import { projectStateDir } from '../../state/scope-paths.js';
import type { Command } from '../command.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeVersion } from '../../pipeline/health-probe.js';
import { superviseRollouts } from '../../pipeline/rollout-supervisor.js';
import { analysisTelemetry } from '../runner-deps.js';
import { fleetTelemetryOf } from '../../state/fleet-store.js';
import { startFleetTelemetryWriter } from '../../telemetry/fleet-telemetry.js';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { durationOption, renderEvent } from '../rollout-options.js';
import { promotionOption } from '../promotion-option.js';
import type { ManagedFleet } from '../../managed/managed-fleet.js';

/** `--on-rollback migrate|404`, or `fallback`; a usage error names the choices otherwise. */
function rollbackOption<T extends string>(v: string | undefined, fallback: T, choices: readonly T[]): T {
  if (v === undefined) return fallback;
  if (!(choices as readonly string[]).includes(v)) throw new AppError('usage', `--on-rollback must be ${choices.join(' or ')}, got "${v}"`);
  return v as T;
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the HTTP router: /mcp/<name> for every server, sessions split by weight and pinned',
  usage: '[--host 127.0.0.1] [--port 7300] [--token <t>] [--allow-origin <o...>] [--allow-host <h...>] [--max-body <bytes>] [--max-sessions <n>] [--idle-timeout 30m] [--rollback-window 10m] [--request-timeout 5m] [--connect-timeout 5s] [--process-idle-timeout 5m] [--max-processes 32] [--on-promote drain|move] [--on-rollback migrate|404] [--ready-timeout 30s]',
  help: [
    'Clients connect to http://HOST:PORT/mcp/<name> (Streamable HTTP). /healthz, /readyz and /metrics (Prometheus) too.',
    'Traffic changes made with the CLI reach the running router within a second. SIGTERM or Ctrl-C: stop accepting,',
    'let in-flight requests finish (up to 10 s), end every backend process, exit 0. Sessions on HTTP versions live',
    'on: their ids open on the restarted router, or any other router of the store (they share its key ring).',
    'The bearer token may also come from MCP_ROLLOUT_TOKEN. Binding beyond loopback needs --host and, for the names',
    'clients use, --allow-host.',
    'A stdio version runs a process per legacy session: at most --max-processes per version (at the cap the least',
    'recently used idle session is ended first; when every one is busy the new session gets 503), and a session',
    'idle for --process-idle-timeout is ended with its process.',
    'At a promotion open sessions stay on their version until they end (--on-promote drain, the default); --on-promote',
    'move moves them to the new blue as --on-rollback says.',
    'A session whose version is rolled back or removed, or whose backend died or forgot it, moves live to the version',
    'the weights choose (--on-rollback migrate, the default): same session id, the client\'s initialize replayed,',
    'list_changed for each list that differs. --on-rollback 404 ends it instead (the client must start a new session).',
    'Managed versions (mcp-deploy --type http --command ... --port auto): before it listens, the router starts every',
    'one that is blue or green and waits up to --ready-timeout for its MCP handshake; it starts one that becomes',
    'active later, restarts one that dies (with backoff; 3 deaths within a minute hold restarts for the minute),',
    'and stops one that has been inactive for --rollback-window with no session left on it.',
    'Example:',
    '  mcp-rollout serve --port 7300',
  ].join('\n'),
  spec: {
    positionals: [],
    options: {
      host: 'string', port: 'string', token: 'string', 'allow-origin': 'list', 'allow-host': 'list',
      'max-body': 'string', 'max-sessions': 'string', 'idle-timeout': 'string', 'rollback-window': 'string', 'request-timeout': 'string',
      'connect-timeout': 'string', 'process-idle-timeout': 'string', 'max-processes': 'string', 'on-promote': 'string', 'on-rollback': 'string', 'ready-timeout': 'string',
    },
  },
  async run(args, ctx) {
    // The router (and the protocol SDK under it) loads only for this command.
    const { DEFAULT_ROUTER_OPTIONS, HttpRouter, ROLLBACK_POLICIES } = await import('../../router/http-router.js');
    const int = (o: string, fallback: number, min: number, max: number): number => {
      const v = args.strings[o];
      if (v === undefined) return fallback;
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new AppError('usage', `--${o} must be an integer from ${min} to ${max}, got "${v}"`);
      return Number(v);
    };
    const token = args.strings.token ?? ctx.io.env.MCP_ROLLOUT_TOKEN;
    const options = {
      ...DEFAULT_ROUTER_OPTIONS,
      host: args.strings.host ?? DEFAULT_ROUTER_OPTIONS.host,
      port: int('port', DEFAULT_ROUTER_OPTIONS.port, 0, 65535),
      hosts: (args.lists['allow-host'] ?? []).map((h) => h.toLowerCase()),
      origins: args.lists['allow-origin'] ?? [],
      maxBodyBytes: int('max-body', DEFAULT_ROUTER_OPTIONS.maxBodyBytes, 1024, 1 << 30),
      maxSessionsPerServer: int('max-sessions', DEFAULT_ROUTER_OPTIONS.maxSessionsPerServer, 1, 1_000_000),
      idleTimeoutMs: durationOption(args, 'idle-timeout', DEFAULT_ROUTER_OPTIONS.idleTimeoutMs),
      rollbackWindowMs: durationOption(args, 'rollback-window', DEFAULT_ROUTER_OPTIONS.rollbackWindowMs),
      requestTimeoutMs: durationOption(args, 'request-timeout', DEFAULT_ROUTER_OPTIONS.requestTimeoutMs, 1),
      connectTimeoutMs: durationOption(args, 'connect-timeout', DEFAULT_ROUTER_OPTIONS.connectTimeoutMs, 1),
      processIdleTimeoutMs: durationOption(args, 'process-idle-timeout', DEFAULT_ROUTER_OPTIONS.processIdleTimeoutMs, 1),
      maxProcessesPerVersion: int('max-processes', DEFAULT_ROUTER_OPTIONS.maxProcessesPerVersion, 1, 100_000),
      onPromote: promotionOption(args, DEFAULT_ROUTER_OPTIONS.onPromote),
      onRollback: rollbackOption(args.strings['on-rollback'], DEFAULT_ROUTER_OPTIONS.onRollback, ROLLBACK_POLICIES),
      ...(token ? { token } : {}),
    };
    const readyTimeoutMs = durationOption(args, 'ready-timeout', 30_000, 1);
    const view = new LiveView(ctx.registry().store);
    await view.start();
    // Managed versions' servers, started before traffic is taken; the router asks the fleet where they are.
    const { ManagedFleet } = await import('../../managed/managed-fleet.js');
    let fleet: ManagedFleet | undefined;
    // The store's clock (the database's, on one), so a session's start compares with a rollback another host wrote.
    const registry = ctx.registry();
    const router = new HttpRouter(view, { ...options, backendOf: (server, record) => fleet?.backendOf(server, record) ?? record }, registry.now);
    fleet = new ManagedFleet(view, {
      readyTimeoutMs,
      rollbackWindowMs: options.rollbackWindowMs,
      metrics: router.metrics,
      sessions: () => router.sessionCounts(),
      record: (server, version, event, reason) => ctx.registry().recordProcess(server, version, event, reason),
      log: (line) => ctx.print(line),
      now: Date.now,
    });
    await fleet.start();
    // Before the first request can count: the analysis counts a router that started after a window began from zero.
    const startedAt = registry.now();
    let port: number;
    try {
      port = await router.listen();
    } catch (e) {
      view.stop();
      await fleet.close();
      throw new AppError('io', `cannot listen on ${options.host}:${options.port}: ${(e as Error).message}`);
    }
    const shown = options.host.includes(':') ? `[${options.host}]` : options.host;
    const stateDir = projectStateDir({ cwd: ctx.io.cwd, env: ctx.io.env });
    const store = ctx.registry().store;
    // Hosts whose names collide (containers cloned from one image) tell them apart with MCP_ROLLOUT_HOST.
    const host = ctx.io.env.MCP_ROLLOUT_HOST || hostname();
    const fleetStore = fleetTelemetryOf(store);
    // On a database the fleet (any host) reads this router's counters from there; on files, others ask it over HTTP.
    const withdraw = fleetStore
      ? startFleetTelemetryWriter(fleetStore, { id: randomUUID(), host, pid: process.pid, url: `http://${shown}:${port}`, startedAt }, router.metrics)
      : await announceRouter(stateDir, `http://${shown}:${port}`);
    // Rollouts whose runner is gone (a stopped foreground deploy, an earlier router) continue here.
    const stopSupervising = superviseRollouts(
      view,
      {
        registry: ctx.registry(),
        telemetry: analysisTelemetry(store, stateDir, token),
        self: { pid: process.pid, host },
        probe: async (record) => {
          const r = await probeVersion(fleet?.resolved(record) ?? record);
          const note = r.healthy ? undefined : fleet?.processNote(record);
          return note === undefined ? r : { ...r, message: `${r.message} (${note})` };
        },
        sleep: (ms) => sleep(ms, undefined, ctx.io.signal ? { signal: ctx.io.signal } : {}).catch(() => undefined),
        ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
      },
      (server, e) => ctx.print(`${server}: ${renderEvent(e)}`),
    );
    const names = view.names();
    ctx.print(`mcp-rollout router listening on http://${shown}:${port}/mcp/<name> (${names.length === 0 ? 'no servers yet' : names.join(', ')})`);
    await new Promise<void>((resolve) => {
      if (ctx.io.signal?.aborted) resolve();
      ctx.io.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    ctx.print('stopping: finishing in-flight requests, ending backend sessions');
    await stopSupervising();
    await withdraw();
    await router.close();
    await fleet.close();
    view.stop();
    ctx.print('stopped');
  },
};
