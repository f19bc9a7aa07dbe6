/**
 * How a server and its versions look, in a table and as JSON. Shared by status and every changing command.
 */
import type { Contract } from '../domain/contract-diff.js';
import type { ServerState } from '../domain/types.js';
import type { StoredServer } from '../state/store.js';
import type { VersionUsage } from '../telemetry/usage.js';
import { describeTarget, formatTime, paint, paintStatus, table, trafficBar, versionJson, type Style } from './format.js';

/**
 * The lines of one server's table: a heading, one row per version, the last rollback if any. With `usage`
 * (from the routers' and proxies' telemetry), live sessions, requests, error rate, latency and backend processes too.
 * `routersRead: false` (changing commands, which do not read the telemetry) leaves out the managed processes'
 * lines, which would otherwise say "no router runs it" while one does.
 */
export function renderServer(stored: StoredServer, style: Style, usage?: Map<string, VersionUsage>, { routersRead = true }: { routersRead?: boolean } = {}): string[] {
  const { server } = stored;
  const use = (v: string): string[] => {
    const u = usage?.get(`${server.name}\u0000${v}`);
    if (!u) return ['-', '-', '-', '-', '-', '-'];
    const ms = (x: number | undefined): string => (x === undefined ? '-' : `${x} ms`);
    return [String(u.sessions), String(u.requests), u.errorRate === undefined ? '-' : `${(u.errorRate * 100).toFixed(1)}%`, ms(u.p50Ms), ms(u.p99Ms), String(u.processes ?? 0)];
  };
  const usageHead = usage ? ['SESSIONS', 'REQUESTS', 'ERRORS', 'P50', 'P99', 'PROCS'] : [];
  const rows = [
    ['VERSION', 'STATUS', 'TRAFFIC', '', ...usageHead, 'TYPE', 'DEPLOYED', 'TARGET'].map((h) => paint(style, 'dim', h)),
    ...server.versions.map((v) => [
      v.version,
      paintStatus(style, v.status),
      `${String(v.trafficPercentage).padStart(3)}%`,
      trafficBar(v.trafficPercentage),
      ...(usage ? use(v.version) : []),
      v.type,
      formatTime(v.deploymentTimestamp),
      describeTarget(v),
    ]),
  ];
  const lines = [`${paint(style, 'bold', server.name)}  ${paint(style, 'dim', `(${stored.scope}: ${stored.location})`)}`];
  lines.push(...table(rows).map((l) => `  ${l}`));
  if (routersRead) lines.push(...renderManaged(server, usage));
  const lr = server.mcpVersionHistory.lastRollback;
  if (lr) lines.push(`  last rollback: ${lr.fromVersion} -> ${lr.toVersion} at ${formatTime(lr.timestamp)} (${lr.reason})`);
  return [...lines, ...renderRollout(server, style, usage)];
}

/**
 * One line per managed version: its server process as the router running it reports it (pid, port, up since,
 * restarts, resident memory, CPU), or that no router runs it.
 */
export function renderManaged(server: ServerState, usage?: Map<string, VersionUsage>): string[] {
  const lines: string[] = [];
  for (const v of server.versions) {
    if (v.type !== 'http' || !v.managed) continue;
    const m = usage?.get(`${server.name}\u0000${v.version}`)?.managed;
    if (!m) {
      lines.push(`  ${v.version} managed: no router runs it${v.status === 'inactive' ? '' : ' (start "mcp-rollout serve")'}`);
      continue;
    }
    const parts = [m.state === 'ready' ? `pid ${m.pid ?? '-'}, port ${m.port ?? '-'}` : m.state];
    if (m.upSince !== undefined) parts.push(`up since ${formatTime(m.upSince)}`);
    parts.push(`restarts ${m.restarts}`);
    if (m.rssBytes !== undefined) parts.push(`memory ${(m.rssBytes / 1048576).toFixed(1)} MB`);
    if (m.cpuSeconds !== undefined) parts.push(`cpu ${m.cpuSeconds.toFixed(2)} s`);
    if (m.state !== 'ready' && m.lastExit) parts.push(`last exit: ${m.lastExit}`);
    lines.push(`  ${v.version} managed: ${parts.join(', ')}`);
  }
  return lines;
}

/**
 * The rollout section: phase, step, the desired share next to the observed shares of open sessions and of
 * requests (pinned sessions make them differ), the last analysis and any pending command.
 */
export function renderRollout(server: ServerState, style: Style, usage?: Map<string, VersionUsage>): string[] {
  const r = server.rollout;
  if (!r) return [];
  const { spec, status } = r;
  const phaseColour = status.phase === 'Healthy' ? 'green' : status.phase === 'Degraded' ? 'red' : status.phase === 'Paused' ? 'yellow' : 'blue';
  const lines = [`  rollout: ${spec.strategy} of ${spec.version}  ${paint(style, phaseColour, status.phase)}  ${status.message}`];
  const step = spec.steps[status.stepIndex];
  const candidate = server.versions.find((v) => v.version === spec.version);
  if (step?.kind === 'weight' && status.finishedAt === undefined) {
    lines.push(`    desired ${step.percent}% of new sessions to ${spec.version}; registry now ${candidate?.trafficPercentage ?? 0}%`);
  }
  const observed = observedShares(server, spec.version, usage);
  if (observed) lines.push(`    observed: ${observed.sessions} of open sessions, ${observed.requests} of requests so far on ${spec.version}`);
  if (status.lastAnalysis) lines.push(`    last analysis ${formatTime(status.lastAnalysis.at)}: ${status.lastAnalysis.verdict}: ${status.lastAnalysis.reason}`);
  if (r.command) lines.push(`    pending request: ${r.command.type}`);
  return lines;
}

export interface ServerJsonOptions {
  /** Show secrets (env values, headers) as they are instead of masked. */
  reveal?: boolean;
  /** Per version telemetry, added as `usage`. */
  usage?: Map<string, VersionUsage>;
  /**
   * Keep each version's contract whole, tool schemas included. Off, a contract keeps its shape but its tools
   * lose `inputSchema` and `outputSchema`: those are most of a server's JSON (tens of KB for one server), and
   * nothing but `status --json --contracts` needs them.
   */
  contracts?: boolean;
}

/** A server as JSON: the design's field names, secrets masked and tool schemas left out unless asked for. */
export function serverJson(stored: StoredServer, opts: ServerJsonOptions = {}): Record<string, unknown> {
  const { server } = stored;
  const { reveal = false, usage, contracts = false } = opts;
  return {
    name: server.name,
    scope: stored.scope,
    location: stored.location,
    mcpVersionHistory: server.mcpVersionHistory,
    versions: server.versions.map((v) => ({
      ...versionJson(v, stored.scope, reveal),
      ...(v.contract && !contracts ? { contract: withoutSchemas(v.contract) } : {}),
      ...(usage ? { usage: usage.get(`${server.name}\u0000${v.version}`) ?? null } : {}),
    })),
    rollout: server.rollout ?? null,
  };
}

/** The contract's names (tools, prompts and their arguments, resources), without the tools' JSON schemas. */
export function withoutSchemas(contract: Contract): Contract {
  return { ...contract, tools: contract.tools.map((t) => ({ name: t.name })) };
}

/** The candidate's share of open sessions and of all requests seen, as percentages; undefined without data. */
function observedShares(server: ServerState, version: string, usage: Map<string, VersionUsage> | undefined): { sessions: string; requests: string } | undefined {
  if (!usage) return undefined;
  const all = server.versions.map((v) => usage.get(`${server.name}\u0000${v.version}`));
  const mine = usage.get(`${server.name}\u0000${version}`);
  const total = (f: 'sessions' | 'requests'): number => all.reduce((a, u) => a + (u?.[f] ?? 0), 0);
  const pct = (n: number, d: number): string => (d === 0 ? '-' : `${Math.round((n / d) * 100)}%`);
  if (total('requests') === 0 && total('sessions') === 0) return undefined;
  return { sessions: pct(mine?.sessions ?? 0, total('sessions')), requests: pct(mine?.requests ?? 0, total('requests')) };
}
