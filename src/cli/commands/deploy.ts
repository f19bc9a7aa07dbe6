import type { Transport } from '../../domain/types.js';
import { SCOPES, TRANSPORT_TYPES, type Scope, type TransportType } from '../../domain/types.js';
import { parsePercentage } from '../../domain/traffic-split.js';
import { checkBackendHeaders } from '../../domain/backend-headers.js';
import { AppError } from '../../errors.js';
import { isHttpUrl } from '../../state/registry-document.js';
import { parseKeyValues, type ParsedArgs } from '../args.js';
import type { Command } from '../command.js';
import { gatedDeploy } from '../../pipeline/gated-deploy.js';
import { renderReport, validationOptions, VALIDATION_OPTIONS, VALIDATION_USAGE } from '../validation-options.js';
import type { RolloutEvent } from '../../domain/rollout-controller.js';
import { assertNoRolloutInProgress, beginRollout, startDetached } from '../../pipeline/rollout-runner.js';
import { ROLLOUT_OPTIONS, ROLLOUT_USAGE, rolloutSpecFrom } from '../rollout-options.js';
import { rolloutExit, runnerDeps } from '../runner-deps.js';
import { printChange } from './change-output.js';
import { checkManagedInput, storedUrl } from '../../domain/managed-spec.js';
import type { RolloutSpec } from '../../domain/rollout-controller.js';
import type { ChangeResult } from '../../registry/registry.js';
import type { ValidationReport } from '../../checks/validation-spec.js';
import type { CommandContext } from '../command.js';
import { renderEvent } from '../rollout-options.js';
import { followRollout, phaseEvents, routersForManagedRollout, runningRouters, waitManagedReady } from '../managed-rollout.js';

export const deployCommand: Command = {
  name: 'deploy',
  summary: 'register a new version: green at --traffic (default 0), or blue at once with --blue',
  usage:
    '<name> <version> --type <stdio|http|sse> [--command <c>] [--args <a...>] [--env <K=V...>] [--cwd <dir>] ' +
    '[--url <u>] [--header <K=V...>] [--port <auto|n> [--path /mcp]] [--traffic <0-100>] [--blue] [--scope <project|global|mcprc>] [--skip-validation] ' +
    `${VALIDATION_USAGE} ${ROLLOUT_USAGE} [--json] [-- <args...>]`,
  help: [
    'Before it gets any traffic the version is validated (see mcp-rollout validate --help); a version that fails',
    'is recorded inactive at 0% with the reason, and the command exits 1. --skip-validation trusts it as it is.',
    'With --strategy the version then rolls out in the foreground: canary steps (each observed for --interval',
    'and analysed; a step may be "pause"), or a blue/green switch baked for --bake, then promoted; a failed',
    'analysis or health probe rolls it back. Exit 0 when promoted, 1 when rolled back. Ctrl-C stops driving;',
    '"mcp-rollout resume <name> --wait" picks it up again. --detach starts it and leaves it to a running',
    '"mcp-rollout serve" (which drives every rollout that has no live runner).',
    'Examples:',
    '  mcp-deploy weather 1.0.0 --type stdio --command node --args server.js',
    '  mcp-deploy weather 1.1.0 --type stdio --command node --args server.js --env API_KEY=secret --traffic 10',
    '  mcp-deploy weather 2.0.0 --type http --url http://127.0.0.1:8080/mcp --blue',
    '  mcp-deploy weather 2.1.0 --type http --command node --args server.js --port auto   # managed: "mcp-rollout serve" runs it',
    'A managed http version (--command with --port auto or --port <n>) is a server the router starts: it gets its port',
    'in PORT and wherever {port} appears in its --args or --env, and is reached at http://127.0.0.1:<port><--path, /mcp>.',
    'Arguments that start with --: put them after a bare -- (mcp-deploy w 1.0.0 --type stdio --command node --args server.js -- --port 3),',
    'or one at a time as --args=--port.',
  ].join('\n'),
  spec: {
    positionals: ['name', 'version'],
    options: {
      type: 'string', command: 'string', args: 'list', env: 'list', cwd: 'string', url: 'string', header: 'list', port: 'string', path: 'string',
      traffic: 'string', blue: 'boolean', scope: 'string', json: 'boolean', 'skip-validation': 'boolean', ...VALIDATION_OPTIONS, ...ROLLOUT_OPTIONS,
    },
  },
  async run(args, ctx) {
    const name = args.positionals.name!;
    const version = args.positionals.version!;
    const transport = transportFrom(args, name, version);
    const scope = parseScope(args.strings.scope);
    if (args.flags.blue && args.strings.traffic !== undefined) {
      throw new AppError('usage', 'deploy: --blue puts the version at 100%; do not combine it with --traffic');
    }
    const req = {
      version,
      transport,
      ...(args.strings.traffic === undefined ? {} : { traffic: parsePercentage(args.strings.traffic) }),
      ...(args.flags.blue ? { blue: true } : {}),
    };
    const rollout = rolloutSpecFrom(args, name, version);
    if (rollout) {
      const current = (await ctx.registry().list()).find((s) => s.server.name === name);
      if (current) assertNoRolloutInProgress(current.server); // before the candidate is started or registered
    }
    // A managed candidate rolls out inside a router (it runs the green); refused here before anything is registered.
    const managedRollout = rollout && transport.type === 'http' && transport.managed ? await routersForManagedRollout(ctx, name, version, args.flags.detach === true) : undefined;
    const gate = { skip: args.flags['skip-validation'] === true, validation: await validationOptions(args, ctx.io.cwd) };
    const { change, report, rejected } = await gatedDeploy(ctx.registry(), name, req, scope, gate);
    const json = args.flags.json === true;
    const validation = report ? { validation: { ok: report.ok, checks: report.checks } } : {};
    if (!json) {
      if (report) ctx.print(`validating ${name}@${version}`, ...renderReport(report, ctx.style), '');
      printChange(ctx, change, false, version);
    }
    if (rejected || !rollout) {
      if (json) printChange(ctx, change, true, version, { ok: !rejected, ...validation });
      return rejected ? 1 : 0;
    }
    if (managedRollout && managedRollout.length > 0) return managedRolloutRun(ctx, { name, version, change, report, json, detach: args.flags.detach === true, rollout, validation });
    if (args.flags.detach) {
      const status = await startDetached({ ...runnerDeps(ctx), onEvent: () => undefined }, rollout);
      const routers = await runningRouters(ctx);
      const who = routers.length > 0 ? `the running router (${routers.map((r) => r.url).join(', ')}) drives it` : `no router is running: start "mcp-rollout serve", or drive it with "mcp-rollout resume ${name} --wait"`;
      if (json) printChange(ctx, change, true, version, { ...validation, rollout: { status, detached: true } });
      else ctx.print('', `${rollout.strategy} rollout of ${name}@${version} started (${status.message}); ${who}`);
      return 0;
    }
    if (!json) ctx.print('', `${rollout.strategy} rollout of ${name}@${version}:`);
    const events: RolloutEvent[] = [];
    const status = await beginRollout({ ...runnerDeps(ctx), ...(json ? { onEvent: (e: RolloutEvent) => void events.push(e) } : {}) }, rollout);
    if (json) {
      const now = await ctx.registry().get(name);
      printChange(ctx, { ...change, server: now.server }, true, version, { ok: status.phase === 'Healthy', ...validation, rollout: { status, events } });
    }
    else ctx.print(`${status.phase}: ${status.message}`);
    return rolloutExit(status.phase);
  },
};

/**
 * The rollout of a managed green with a router running: wait for the router to report it ready, start the rollout
 * for the router to drive (its first events: validated, green started and ready), then follow it unless --detach.
 */
async function managedRolloutRun(
  ctx: CommandContext,
  o: { name: string; version: string; change: ChangeResult; report: ValidationReport | undefined; json: boolean; detach: boolean; rollout: RolloutSpec; validation: object },
): Promise<number> {
  if (!o.json) ctx.print('', `waiting for the router to start green ${o.version} and answer its handshake`);
  const ready = await waitManagedReady(ctx, o.name, o.version);
  const deps = { ...runnerDeps(ctx), onEvent: () => undefined };
  const before = phaseEvents(deps.registry.now(), o.version, o.report?.checks.length, ready);
  const started = await startDetached(deps, o.rollout, before);
  if (o.detach) {
    if (o.json) printChange(ctx, o.change, true, o.version, { ...o.validation, rollout: { status: started, detached: true } });
    else ctx.print(...before.map(renderEvent), `${o.rollout.strategy} rollout of ${o.name}@${o.version} started (${started.message}); the running router drives it`);
    return 0;
  }
  if (!o.json) ctx.print(`${o.rollout.strategy} rollout of ${o.name}@${o.version}, driven by the running router:`);
  const events: RolloutEvent[] = [];
  const status = await followRollout(ctx, o.name, started.startedAt, (e) => (o.json ? events.push(e) : ctx.print(renderEvent(e))));
  if (o.json) {
    const now = await ctx.registry().get(o.name);
    printChange(ctx, { ...o.change, server: now.server }, true, o.version, { ok: status.phase === 'Healthy', ...o.validation, rollout: { status, events } });
  } else {
    ctx.print(`${status.phase}: ${status.message}`);
    // The last phase comes later: the router keeps the old version's server for its --rollback-window (a quick rollback), then stops it once drained.
    if (status.phase === 'Healthy' || status.phase === 'Degraded') ctx.print(`the ${status.phase === 'Healthy' ? 'old blue' : 'rolled-back green'}'s server is stopped by the router after its --rollback-window once drained (a process event in "mcp-rollout status ${o.name} --watch" and mcp-history)`);
  }
  return rolloutExit(status.phase);
}

/** Reads the transport options; every mistake is a usage error that names the option. */
function transportFrom(args: ParsedArgs, name: string, version: string): Transport {
  const type = args.strings.type;
  if (type === undefined) throw new AppError('usage', `deploy ${name}@${version}: --type is required (stdio, http or sse)`);
  if (!TRANSPORT_TYPES.includes(type as TransportType)) {
    throw new AppError('usage', `deploy ${name}@${version}: unknown --type "${type}" (expected stdio, http or sse)`);
  }
  const stdioOnly = ['command', 'cwd'].filter((o) => args.strings[o] !== undefined).concat(['args', 'env'].filter((o) => args.lists[o] !== undefined));
  const httpOnly = ['url'].filter((o) => args.strings[o] !== undefined).concat(args.lists.header !== undefined ? ['header'] : []);
  if (type === 'stdio') {
    for (const o of ['port', 'path']) if (args.strings[o] !== undefined) throw new AppError('usage', `deploy ${name}@${version}: --${o} applies to managed http versions (--type http --command ...), not stdio`);
    if (httpOnly.length > 0) throw new AppError('usage', `deploy ${name}@${version}: --${httpOnly[0]} applies to http and sse versions, not stdio`);
    const command = args.strings.command;
    if (!command) throw new AppError('usage', `deploy ${name}@${version}: a stdio version needs --command`);
    const cwd = args.strings.cwd;
    return {
      type: 'stdio',
      command,
      args: [...(args.lists.args ?? []), ...args.rest],
      env: parseKeyValues(args.lists.env, 'env'),
      ...(cwd === undefined ? {} : { cwd }),
    };
  }
  const headers = checkBackendHeaders(parseKeyValues(args.lists.header, 'header'));
  if (!headers.ok) throw new AppError('invalid', `deploy ${name}@${version}: ${headers.errors.join('; ')}`);
  // An http version with --command (or --port) is managed: the router runs its server.
  if (type === 'http' && (args.strings.command !== undefined || args.strings.port !== undefined || args.strings.path !== undefined)) {
    const managed = checkManagedInput({
      ...(args.strings.command === undefined ? {} : { command: args.strings.command }),
      args: [...(args.lists.args ?? []), ...args.rest],
      env: parseKeyValues(args.lists.env, 'env'),
      ...(args.strings.cwd === undefined ? {} : { cwd: args.strings.cwd }),
      ...(args.strings.port === undefined ? {} : { port: args.strings.port }),
      ...(args.strings.path === undefined ? {} : { path: args.strings.path }),
      ...(args.strings.url === undefined ? {} : { url: args.strings.url }),
    });
    if (!managed.ok) throw new AppError('usage', `deploy ${name}@${version}: ${managed.errors.join('; ')}`);
    if (managed.value) return { type: 'http', url: storedUrl(managed.value), headers: headers.value, managed: managed.value };
  }
  for (const o of ['port', 'path']) if (args.strings[o] !== undefined) throw new AppError('usage', `deploy ${name}@${version}: --${o} applies to managed http versions (--type http --command ...), not ${type}`);
  if (stdioOnly.length > 0 || args.rest.length > 0) {
    throw new AppError('usage', `deploy ${name}@${version}: --${stdioOnly[0] ?? 'args'} applies to stdio versions${type === 'http' ? ' and managed http versions (with --port)' : ''}, not ${type}`);
  }
  const url = args.strings.url;
  if (!url) throw new AppError('usage', `deploy ${name}@${version}: an ${type} version needs --url`);
  if (!isHttpUrl(url)) throw new AppError('invalid', `deploy ${name}@${version}: --url "${url}" is not a valid http(s) URL`);
  return { type: type as 'http' | 'sse', url, headers: headers.value };
}

/** Checks a --scope value. */
export function parseScope(value: string | undefined): Scope | undefined {
  if (value === undefined) return undefined;
  if (!SCOPES.includes(value as Scope)) throw new AppError('usage', `unknown --scope "${value}" (expected project, global or mcprc)`);
  return value as Scope;
}
