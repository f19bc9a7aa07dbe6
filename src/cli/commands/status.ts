import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../../errors.js';
import type { Command, CommandContext } from '../command.js';
import { renderServer, serverJson } from '../render-server.js';
import { parseDuration, renderEvent } from '../rollout-options.js';
import { fleetTelemetryOf } from '../../state/fleet-store.js';
import { projectStateDir } from '../../state/scope-paths.js';
import { usageByVersion } from '../../telemetry/usage.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'show servers, their versions, statuses, traffic and rollout; --watch follows a rollout, --wait blocks until it ends',
  usage: '[name] [--json [--contracts]] [--show-secrets] [--watch] [--wait [--timeout <duration>]]',
  help: [
    'Examples:',
    '  mcp-status',
    '  mcp-status weather --json',
    '  mcp-status weather --json --contracts              # with every tool\'s input and output schema (left out otherwise)',
    '  mcp-rollout status weather --watch                 # print rollout events as they happen, until it ends',
    '  mcp-rollout status weather --wait --timeout 10m    # for CI: exit 0 when promoted, 1 when rolled back or timed out',
  ].join('\n'),
  spec: { positionals: ['name?'], options: { json: 'boolean', 'show-secrets': 'boolean', watch: 'boolean', wait: 'boolean', timeout: 'string', contracts: 'boolean' } },
  async run(args, ctx) {
    const registry = ctx.registry();
    const name = args.positionals.name;
    if (args.flags.contracts && !args.flags.json) throw new AppError('usage', '--contracts applies to --json');
    if (args.flags.watch || args.flags.wait) {
      if (name === undefined) throw new AppError('usage', '--watch and --wait need a server name');
      const timeout = args.strings.timeout === undefined ? undefined : parseDuration(args.strings.timeout, 'timeout');
      return follow(ctx, name, args.flags.watch === true, timeout);
    }
    if (args.strings.timeout !== undefined) throw new AppError('usage', '--timeout applies to --wait');
    const servers = name === undefined ? await registry.list() : [await registry.get(name)];
    const usage = await usageByVersion(projectStateDir({ cwd: ctx.io.cwd, env: ctx.io.env }), ctx.io.env.MCP_ROLLOUT_TOKEN, fleetTelemetryOf(registry.store));
    if (args.flags.json) {
      ctx.printJson({ servers: servers.map((s) => serverJson(s, { reveal: args.flags['show-secrets'] === true, usage, contracts: args.flags.contracts === true })) });
      return;
    }
    if (servers.length === 0) {
      ctx.print('no servers registered yet: start with mcp-deploy <name> <version> --type stdio --command <cmd>');
      return;
    }
    const shown = usage.size > 0 ? usage : undefined;
    servers.forEach((s, i) => ctx.print(...(i > 0 ? [''] : []), ...renderServer(s, ctx.style, shown)));
  },
};

/** Follows the rollout of `name` until it ends: 0 Healthy, 1 Degraded or timed out, 130 interrupted. */
async function follow(ctx: CommandContext, name: string, watch: boolean, timeoutMs: number | undefined): Promise<number> {
  const registry = ctx.registry();
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  let last: string | undefined; // the last event shown, as a key
  const key = (e: { at: number; type: string; message: string }): string => `${e.at}|${e.type}|${e.message}`;
  for (;;) {
    const { server } = await registry.get(name);
    const r = server.rollout;
    if (!r) throw new AppError('conflict', `server "${name}" has no rollout to follow`);
    if (watch) {
      // Events are kept newest-last: show those after the last one shown (at first, the latest ten).
      const seen = last === undefined ? -1 : r.events.map(key).lastIndexOf(last);
      const fresh = last === undefined ? r.events.slice(-10) : r.events.slice(seen + 1);
      for (const e of fresh) ctx.print(renderEvent(e));
      if (r.events.length > 0) last = key(r.events.at(-1)!);
    }
    const { phase, message } = r.status;
    if (phase === 'Healthy' || phase === 'Degraded') {
      if (!watch) ctx.print(`${phase}: ${message}`);
      return phase === 'Healthy' ? 0 : 1;
    }
    if (Date.now() >= deadline) {
      ctx.print(`timed out after ${timeoutMs} ms; the rollout is ${phase}: ${message}`);
      return 1;
    }
    if (ctx.io.signal?.aborted) return 130;
    await sleep(500, undefined, ctx.io.signal ? { signal: ctx.io.signal } : {}).catch(() => undefined);
  }
}
