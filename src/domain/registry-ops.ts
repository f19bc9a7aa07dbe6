/**
 * The registry's operations as pure functions: (server state, request, now) -> (new state, changes, messages).
 * Every operation states the status and share it wants for each version; `settle` diffs that against the old
 * state, so history entries and change events come from one place and appear once per real change.
 */
import { AppError } from '../errors.js';
import { checkServer } from './invariants.js';
import { isSemver } from './semver.js';
import { isServerName } from './server-name.js';
import { parsePercentage, setShare } from './traffic-split.js';
import {
  blueOf,
  cloneServer,
  emptyServer,
  findVersion,
  type Health,
  type ProcessEvent,
  type ServerState,
  type Status,
  type Transport,
  type RolloutDriver,
  type RolloutRecord,
  type ValidationSummary,
  type VersionRecord,
} from './types.js';
import type { Contract } from './contract-diff.js';
import { applyCommand, mergeCommands, rolloutFinished, type Action as RolloutAction, type Command as RolloutCommand, type RolloutEvent, type RolloutStatus } from './rollout-controller.js';

/** A change the registry made; the registry turns these into events and deployment-log lines. */
export type Change =
  | { type: 'server:registered'; server: string; version: string; status: Status; trafficPercentage: number; transport: Transport; reason?: string }
  | { type: 'server:status-changed'; server: string; version: string; oldStatus: Status; newStatus: Status; reason?: string }
  | { type: 'server:traffic-changed'; server: string; version: string; oldPercentage: number; newPercentage: number; reason?: string }
  | { type: 'server:rollback'; server: string; fromVersion: string; toVersion: string; reason: string; timestamp: number }
  | { type: 'server:version-removed'; server: string; version: string }
  | { type: 'server:rollout'; server: string; version: string; phase: string; message: string }
  | { type: 'server:validated'; server: string; version: string; ok: boolean; failures: string[] }
  | { type: 'server:health-changed'; server: string; version: string; oldHealth: Health; newHealth: Health; reason?: string }
  | { type: 'server:process'; server: string; version: string; what: ProcessEvent; reason: string };

export interface OpResult {
  server: ServerState;
  changes: Change[];
  /** Human-readable notes about what happened (for example "first version: blue at 100%"). */
  messages: string[];
}

type Plan = Map<string, { status: Status; pct: number }>;

function planOf(server: ServerState): Plan {
  return new Map(server.versions.map((v) => [v.version, { status: v.status, pct: v.trafficPercentage }]));
}

/** Applies a plan to `server` (a working copy, changed in place), recording history and changes for every version that moved. */
function settle(server: ServerState, plan: Plan, now: number, reason: string | undefined): OpResult {
  const changes: Change[] = [];
  const why = reason === undefined ? {} : { reason };
  for (const v of server.versions) {
    const want = plan.get(v.version);
    if (!want) continue;
    if (v.status !== want.status) {
      server.history.push({ kind: 'status', timestamp: now, version: v.version, from: v.status, to: want.status, ...why });
      changes.push({ type: 'server:status-changed', server: server.name, version: v.version, oldStatus: v.status, newStatus: want.status, ...why });
      v.status = want.status;
    }
    if (v.trafficPercentage !== want.pct) {
      server.history.push({ kind: 'traffic', timestamp: now, version: v.version, from: v.trafficPercentage, to: want.pct, ...why });
      changes.push({ type: 'server:traffic-changed', server: server.name, version: v.version, oldPercentage: v.trafficPercentage, newPercentage: want.pct, ...why });
      v.trafficPercentage = want.pct;
    }
  }
  server.mcpVersionHistory.currentBlue = blueOf(server)?.version ?? null;
  assertInvariants(server);
  return { server, changes, messages: [] };
}

function assertInvariants(server: ServerState): void {
  const errors = checkServer(server);
  // Unreachable through the operations below; a failure here is a bug, so it names itself as one.
  if (errors.length > 0) throw new Error(`internal error: registry invariant broken: ${errors.join('; ')}`);
}

function requireVersion(server: ServerState, version: string): VersionRecord {
  const v = findVersion(server, version);
  if (!v) throw new AppError('not-found', `server "${server.name}" has no version "${version}"`);
  return v;
}

function requireBlue(server: ServerState, action: string): VersionRecord {
  const blue = blueOf(server);
  if (!blue) throw new AppError('conflict', `cannot ${action}: server "${server.name}" has no blue version`);
  return blue;
}

export interface DeployRequest {
  version: string;
  transport: Transport;
  /** Share for a green deploy, 0-100; default 0. */
  traffic?: number;
  /** Immediate swap: the new version becomes blue at 100%. */
  blue?: boolean;
  /** The validation outcome and contract to store with the version. */
  validation?: ValidationSummary;
  contract?: Contract;
  /** Validation refused it: it is recorded inactive at 0% with this reason, and gets no traffic. */
  rejected?: string;
}

/**
 * Deploys a new version. The first version of a server becomes blue at 100%. With `blue`, the new version
 * becomes blue at 100% and the previous blue goes inactive onto the rollback stack. Otherwise it is green at
 * `traffic`% (default 0). Throws AppError on a bad name, semver, percentage or a duplicate version.
 */
export function deploy(current: ServerState | undefined, name: string, req: DeployRequest, now: number): OpResult {
  if (!isServerName(name)) {
    throw new AppError('invalid', `invalid server name "${name}": use letters, digits, ".", "_" and "-" (up to 128)`);
  }
  if (!isSemver(req.version)) {
    throw new AppError('invalid', `invalid version "${req.version}" for server "${name}": expected semver such as 1.2.0`);
  }
  const traffic = req.traffic === undefined ? undefined : parsePercentage(req.traffic);
  const server = cloneServer(current ?? emptyServer(name));
  const messages: string[] = [];
  const existing = findVersion(server, req.version);
  if (existing) {
    // A version that failed validation never carried traffic: deploying it again replaces the record.
    if (existing.status !== 'inactive' || existing.validation?.ok !== false) {
      throw new AppError('conflict', `server "${name}" already has version "${req.version}"`);
    }
    server.versions = server.versions.filter((v) => v !== existing);
    messages.push(`replacing ${name}@${req.version}, which failed validation before`);
  }
  const extra = { ...(req.validation ? { validation: req.validation } : {}), ...(req.contract ? { contract: req.contract } : {}) };
  if (req.rejected !== undefined) {
    const reason = `validation failed: ${req.rejected}`;
    server.versions.push({ ...req.transport, version: req.version, status: 'inactive', trafficPercentage: 0, deploymentTimestamp: now, ...extra } as VersionRecord);
    if (!server.mcpVersionHistory.versions.includes(req.version)) server.mcpVersionHistory.versions.push(req.version);
    server.history.push({ kind: 'registered', timestamp: now, version: req.version, status: 'inactive', trafficPercentage: 0, reason });
    messages.push(`${name}@${req.version} failed validation: recorded as inactive at 0%, no traffic`);
    const change: Change = { type: 'server:registered', server: name, version: req.version, status: 'inactive', trafficPercentage: 0, transport: req.transport, reason };
    return { server, changes: [change], messages };
  }
  const oldBlue = blueOf(server);
  const asBlue = oldBlue === undefined || req.blue === true;
  // The new record enters at 0% green so the traffic math sees it; its final values are set before settling,
  // so only the other versions' moves become changes (the new one is reported once, as registered).
  const record = { ...req.transport, version: req.version, status: 'green', trafficPercentage: 0, deploymentTimestamp: now, ...extra } as VersionRecord;
  server.versions.push(record);
  let plan: Plan;
  if (asBlue) {
    plan = swapBluePlan(server, req.version);
  } else {
    plan = planOf(server);
    const pcts = setShare(name, server.versions, req.version, traffic ?? 0);
    server.versions.forEach((v, i) => plan.set(v.version, { status: v.status, pct: pcts[i]! }));
  }
  const mine = plan.get(req.version)!;
  record.status = mine.status;
  record.trafficPercentage = mine.pct;
  if (!server.mcpVersionHistory.versions.includes(req.version)) server.mcpVersionHistory.versions.push(req.version);
  server.history.push({ kind: 'registered', timestamp: now, version: req.version, status: mine.status, trafficPercentage: mine.pct });
  if (oldBlue === undefined) {
    messages.push(`${name}@${req.version} is the first version of "${name}": it becomes blue at 100%`);
    if (traffic !== undefined && traffic !== 100) messages.push(`--traffic ${traffic} does not apply: a server's first version carries all traffic`);
  } else if (asBlue) {
    server.mcpVersionHistory.rollbackStack.push(oldBlue.version);
    messages.push(`${name}@${req.version} is now blue at 100%; ${oldBlue.version} is inactive and kept as the rollback target`);
  } else {
    messages.push(`deployed ${name}@${req.version} as green at ${mine.pct}%`);
  }
  const result = settle(server, plan, now, undefined);
  const registered: Change = {
    type: 'server:registered',
    server: name,
    version: req.version,
    status: mine.status,
    trafficPercentage: mine.pct,
    transport: req.transport,
  };
  return { server: result.server, changes: [registered, ...result.changes], messages };
}

/** A plan where `version` is blue at 100%, the old blue inactive, greens green at 0%. */
function swapBluePlan(server: ServerState, version: string): Plan {
  const plan: Plan = new Map();
  for (const v of server.versions) {
    if (v.version === version) plan.set(v.version, { status: 'blue', pct: 100 });
    else if (v.status === 'blue') plan.set(v.version, { status: 'inactive', pct: 0 });
    else plan.set(v.version, { status: v.status, pct: 0 });
  }
  return plan;
}

/**
 * Promotes `version` (green or inactive) to blue at 100%. The previous blue goes inactive onto the rollback
 * stack; other greens drop to 0% and stay green. Promoting the blue is a no-op that says so. A version the
 * validation gate refused is not promoted (AppError `conflict`) until a validation of it passes.
 */
export function promote(current: ServerState, version: string, now: number, reason?: string): OpResult {
  const target = requireVersion(current, version);
  const blue = requireBlue(current, `promote "${version}"`);
  if (target.validation?.ok === false && refusedAtGate(current, version)) {
    throw new AppError(
      'conflict',
      `cannot promote "${version}": server "${current.name}" refused it at the validation gate (${target.validation.failures.join('; ') || 'no reason recorded'}); ` +
        `validate it again (mcp-rollout validate ${current.name} ${version}) or deploy it again`,
    );
  }
  if (target.status === 'blue') {
    return { server: current, changes: [], messages: [`${current.name}@${version} is already blue: nothing to do`] };
  }
  const server = cloneServer(current);
  server.mcpVersionHistory.rollbackStack.push(blue.version);
  const result = settle(server, swapBluePlan(server, version), now, reason);
  result.messages.push(`promoted ${current.name}@${version} to blue at 100%; ${blue.version} is inactive (rollback target)`);
  return result;
}

/**
 * Rolls `version` back. A green goes inactive at 0% and the blue returns to 100% (other greens to 0%).
 * The blue itself is replaced by the most recent previous blue still present (error if none). Records
 * `lastRollback` and a rollback history entry with the reason.
 */
export function rollback(current: ServerState, version: string, now: number, reason = 'manual rollback'): OpResult {
  const target = requireVersion(current, version);
  const blue = requireBlue(current, `roll back "${version}"`);
  if (target.status === 'inactive') {
    throw new AppError('conflict', `version "${version}" of server "${current.name}" is inactive: nothing to roll back`);
  }
  const server = cloneServer(current);
  let to: string;
  const plan: Plan = new Map();
  if (target.status === 'green') {
    to = blue.version;
    for (const v of server.versions) plan.set(v.version, { status: v.status, pct: v.status === 'blue' ? 100 : 0 });
    plan.set(version, { status: 'inactive', pct: 0 });
  } else {
    const stack = server.mcpVersionHistory.rollbackStack;
    let previous: string | undefined;
    while (stack.length > 0 && previous === undefined) {
      const candidate = stack.pop()!;
      if (candidate !== version && findVersion(server, candidate)) previous = candidate;
    }
    if (previous === undefined) {
      throw new AppError('conflict', `cannot roll back blue version "${version}" of server "${current.name}": no previous blue version to return to`);
    }
    to = previous;
    for (const v of server.versions) plan.set(v.version, { status: v.status, pct: 0 });
    plan.set(version, { status: 'inactive', pct: 0 });
    plan.set(previous, { status: 'blue', pct: 100 });
  }
  const record = { fromVersion: version, toVersion: to, timestamp: now, reason };
  server.mcpVersionHistory.lastRollback = record;
  server.history.push({ kind: 'rollback', timestamp: now, version, fromVersion: version, toVersion: to, reason });
  const result = settle(server, plan, now, reason);
  result.changes.unshift({ type: 'server:rollback', server: server.name, ...record });
  result.messages.push(`rolled back ${server.name}@${version}: ${to} is blue at 100% (reason: ${reason})`);
  return result;
}

/** Sets `version` to exactly `percentage`% (see `setShare` for how the rest is shared). */
export function setTraffic(current: ServerState, version: string, percentage: number, now: number, reason?: string): OpResult {
  requireVersion(current, version);
  const pcts = setShare(current.name, current.versions, version, percentage);
  const plan = planOf(current);
  current.versions.forEach((v, i) => plan.set(v.version, { status: v.status, pct: pcts[i]! }));
  const result = settle(cloneServer(current), plan, now, reason);
  const line = result.server.versions
    .filter((v) => v.status !== 'inactive')
    .map((v) => `${v.version} ${v.trafficPercentage}%`)
    .join(', ');
  result.messages.push(result.changes.length === 0 ? `traffic unchanged: ${line}` : `traffic of "${current.name}": ${line}`);
  return result;
}

/**
 * Removes a version record. Refused for the blue; a green's share returns to the others as if set to 0%.
 * History entries about the version stay.
 */
export function removeVersion(current: ServerState, version: string, now: number): OpResult {
  const target = requireVersion(current, version);
  if (target.status === 'blue') {
    throw new AppError('conflict', `cannot remove blue version "${version}" of server "${current.name}": promote or roll back to another version first`);
  }
  let result: OpResult = { server: cloneServer(current), changes: [], messages: [] };
  if (target.trafficPercentage > 0) result = setTraffic(current, version, 0, now, `version ${version} removed`);
  const server = result.server;
  server.versions = server.versions.filter((v) => v.version !== version);
  server.mcpVersionHistory.rollbackStack = server.mcpVersionHistory.rollbackStack.filter((v) => v !== version);
  server.history.push({ kind: 'removed', timestamp: now, version });
  assertInvariants(server);
  return {
    server,
    changes: [...result.changes, { type: 'server:version-removed', server: server.name, version }],
    messages: [`removed ${server.name}@${version}; its history is kept`],
  };
}

/** Records a health observation; a change only when the health really differs. */
export function setHealth(current: ServerState, version: string, health: Health, now: number, reason?: string): OpResult {
  const old = requireVersion(current, version).health ?? 'unknown';
  if (old === health) return { server: current, changes: [], messages: [] };
  const server = cloneServer(current);
  findVersion(server, version)!.health = health;
  const why = reason === undefined ? {} : { reason };
  server.history.push({ kind: 'health', timestamp: now, version, from: old, to: health, ...why });
  return {
    server,
    changes: [{ type: 'server:health-changed', server: server.name, version, oldHealth: old, newHealth: health, ...why }],
    messages: [`${server.name}@${version} is ${health}`],
  };
}

/** Records what happened to a managed version's process (restarted after a death, or restarts held). */
export function recordProcess(current: ServerState, version: string, event: ProcessEvent, reason: string, now: number): OpResult {
  requireVersion(current, version);
  const server = cloneServer(current);
  server.history.push({ kind: 'process', timestamp: now, version, event, reason });
  // The rollout's event log shows what happened to the processes while it ran, and the stop that ends it for
  // the old blue (or a rolled-back green) once the rollback window has passed: `status --watch` shows them.
  const r = server.rollout;
  if (r && now >= r.status.startedAt && (!rolloutFinished(r.status) || event === 'stopped')) {
    r.events = [...r.events, { at: now, type: 'process' as const, message: `${version}: process ${event}: ${reason}` }].slice(-200);
  }
  return {
    server,
    changes: [{ type: 'server:process', server: server.name, version, what: event, reason }],
    messages: [`${server.name}@${version}: process ${event}: ${reason}`],
  };
}

/**
 * Whether `version` was refused at the validation gate and has stayed where the refusal put it: inactive since
 * it was registered (an old blue retired by a promotion is inactive too, but moved there later).
 */
export function refusedAtGate(server: ServerState, version: string): boolean {
  if (findVersion(server, version)?.status !== 'inactive') return false;
  for (let i = server.history.length - 1; i >= 0; i--) {
    const e = server.history[i]!;
    if (e.version !== version) continue;
    if (e.kind === 'status') return false;
    if (e.kind === 'registered') return e.status === 'inactive';
  }
  return false;
}

/**
 * Stores a validation outcome (and the contract seen) with a version, and records it in the history. A passing
 * validation puts right a version the gate refused: it goes where a passing deploy would have put it, green at
 * 0% beside the blue, or blue at 100% when the server has no blue (its first version was the one refused).
 */
export function recordValidation(current: ServerState, version: string, summary: ValidationSummary, contract: Contract | undefined, now: number): OpResult {
  requireVersion(current, version);
  const server = cloneServer(current);
  const v = findVersion(server, version)!;
  const putRight = summary.ok && refusedAtGate(current, version);
  v.validation = summary;
  if (contract) v.contract = contract;
  server.history.push({ kind: 'validated', timestamp: now, version, ok: summary.ok, ...(summary.ok ? {} : { reason: summary.failures.join('; ') }) });
  const validated: Change = { type: 'server:validated', server: server.name, version, ok: summary.ok, failures: summary.failures };
  const passed = `${server.name}@${version} ${summary.ok ? 'passed' : 'failed'} validation`;
  if (!putRight) return { server, changes: [validated], messages: [passed] };
  const hasBlue = blueOf(server) !== undefined;
  const plan = hasBlue ? planOf(server).set(version, { status: 'green', pct: 0 }) : swapBluePlan(server, version);
  const result = settle(server, plan, now, 'validation passed after the gate had refused it');
  return {
    server: result.server,
    changes: [validated, ...result.changes],
    messages: [
      hasBlue
        ? `${passed}: it was refused at the gate and is now green at 0% (set its traffic, or promote it)`
        : `${passed}: it was refused at the gate; as the first version of "${server.name}" to pass it becomes blue at 100%`,
    ],
  };
}

/**
 * Stores a rollout's new status and events, merged inside the write: events are appended (the newest 200
 * kept) and a command that arrived meanwhile survives unless it is the one just `consumed`.
 * A change is reported when the status moved in anything the next tick reads (phase, step, message, the
 * failures counted, the window's start, the last analysis), when there are new events, or when the command
 * or the driver changed; saving an unchanged status writes nothing. Stores write only what reports a change,
 * so a tick that counts a failure without moving the step must report one, or the count is lost and a
 * canary failing below its failure limit is observed for ever.
 */
export function saveRollout(current: ServerState, next: Omit<RolloutRecord, 'events' | 'command'>, newEvents: RolloutEvent[], consumed?: RolloutCommand): OpResult {
  const server = cloneServer(current);
  const before = current.rollout;
  const pending = before?.command;
  const keep = pending !== undefined && JSON.stringify(pending) !== JSON.stringify(consumed) ? pending : undefined;
  const sameRollout = before !== undefined && before.spec.version === next.spec.version && before.status.startedAt === next.status.startedAt;
  server.rollout = {
    ...next,
    events: [...(sameRollout ? before.events : []), ...newEvents].slice(-200),
    ...(keep === undefined ? {} : { command: keep }),
  };
  const moved =
    !sameRollout ||
    before.status.phase !== next.status.phase ||
    before.status.stepIndex !== next.status.stepIndex ||
    before.status.message !== next.status.message ||
    before.status.failures !== next.status.failures ||
    before.status.windowStart !== next.status.windowStart ||
    before.status.lastAnalysis?.at !== next.status.lastAnalysis?.at ||
    newEvents.length > 0 ||
    JSON.stringify(before.command) !== JSON.stringify(server.rollout.command) ||
    JSON.stringify(before.driver) !== JSON.stringify(next.driver);
  const changes: Change[] = moved
    ? [{ type: 'server:rollout', server: server.name, version: next.spec.version, phase: next.status.phase, message: next.status.message }]
    : [];
  return { server, changes, messages: [] };
}

/**
 * Hands a person's command (promote, abort, resume) to the rollout in progress of `current`; throws AppError
 * `conflict` when there is none. Run inside the store's locked write; `now` is epoch ms.
 *
 * With `gone`, the caller judged the rollout's stored driver gone (`gone.driver`: dead, or undefined for
 * none). While that driver is still the stored one, nobody will act on the command, so it is carried out in
 * this write, which holds the rollout's claim for the moment it acts: the controller's `applyCommand` (to the
 * pending command merged with this one), its actions applied as a tick's, the status saved with no driver so
 * the next runner (`serve`, `resume --wait`) takes it from there. A driver that claimed the rollout since is
 * alive: the command is left to it. A command with no effect on its own is left for the next runner.
 *
 * Left pending, a command is merged with one already waiting (`mergeCommands`: an abort is never replaced).
 * The messages say who acts: this write ("rolled back"), the named runner, or the next runner.
 */
export function commandRollout(current: ServerState, command: RolloutCommand, now: number, gone?: { driver: RolloutDriver | undefined }): OpResult {
  const r = current.rollout;
  if (!r || rolloutFinished(r.status)) {
    throw new AppError('conflict', `server "${current.name}" has no rollout in progress${r ? ` (the last one ended ${r.status.phase}: ${r.status.message})` : ''}`);
  }
  const merged = mergeCommands(r.command, command);
  const what = `the rollout of ${current.name}@${r.spec.version}`;
  const ours = merged === command ? `${command.type} requested for ${what}` : `${merged.type} is already pending for ${what} and wins over ${command.type}`;
  if (gone && sameDriver(r.driver, gone.driver)) {
    const t = applyCommand(r.spec, r.status, merged, findVersion(current, r.spec.version)?.status ?? 'missing', now);
    if (t) {
      const done = applyTick(current, { actions: t.actions, next: { spec: r.spec, status: t.status }, events: t.events, consumed: merged }, now);
      const after = rolloutFinished(t.status) ? '' : '; no runner drives it on until `mcp-rollout serve` or `mcp-rollout resume --wait` takes it';
      return { ...done, messages: [`${ours}: ${t.status.message} (done by this command: no runner was driving the rollout${after})`] };
    }
  }
  const server = cloneServer(current);
  server.rollout = { ...r, command: merged };
  const changed = merged !== r.command;
  const who = r.driver && !(gone && sameDriver(r.driver, gone.driver))
    ? `the runner (pid ${r.driver.pid} on host ${r.driver.host}) will act within a second`
    : 'no runner drives the rollout: the next one to start (`mcp-rollout serve`, `mcp-rollout resume --wait`) acts on it';
  return {
    server,
    changes: changed ? [{ type: 'server:rollout', server: server.name, version: r.spec.version, phase: r.status.phase, message: `${merged.type} requested` }] : [],
    messages: [`${ours}; ${who}`],
  };
}

/** Whether two drivers name the same process; two absent drivers are the same (nobody). */
export function sameDriver(a: RolloutDriver | undefined, b: RolloutDriver | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.pid === b.pid && a.host === b.host;
}

const nameDriver = (d: RolloutDriver): string => `process ${d.pid} on ${d.host}`;
const isSameRollout = (a: RolloutRecord, b: Pick<RolloutRecord, 'spec' | 'status'>): boolean =>
  a.spec.version === b.spec.version && a.status.startedAt === b.status.startedAt;

/**
 * Takes over the rollout in progress of `current` for `claimant` (a lease): it applies only while the stored
 * driver is still `seen` - the driver the caller found dead, or undefined when it found none - or already is
 * the claimant (a runner resuming its own rollout); a rollout with no driver is free. Whether `seen` is dead
 * is the caller's judgement (this module does no I/O); run inside the store's locked read-modify-write,
 * naming what was judged is what makes the claim atomic: of two processes that both saw the same dead
 * driver, the second finds the first and fails.
 * A rollout that ended meanwhile is returned unchanged. Throws AppError `conflict` when the server has no
 * rollout, or when another driver holds it (naming that driver).
 */
export function claimRollout(current: ServerState, claimant: RolloutDriver, seen: RolloutDriver | undefined): OpResult {
  const r = current.rollout;
  if (!r) throw new AppError('conflict', `server "${current.name}" has no rollout to drive`);
  const holder = r.driver;
  if (holder !== undefined && !sameDriver(holder, seen) && !sameDriver(holder, claimant)) {
    throw new AppError('conflict', `the rollout of "${current.name}" is already driven by ${nameDriver(holder)}`);
  }
  if (rolloutFinished(r.status)) {
    return { server: current, changes: [], messages: [`the rollout of ${current.name}@${r.spec.version} already ended (${r.status.phase}: ${r.status.message})`] };
  }
  if (sameDriver(holder, claimant)) return { server: current, changes: [], messages: [`the rollout of ${current.name}@${r.spec.version} is driven by ${nameDriver(claimant)}`] };
  const server = cloneServer(current);
  server.rollout = { ...r, driver: { pid: claimant.pid, host: claimant.host } };
  const message = `driven by ${nameDriver(claimant)}${holder ? ` (taken over from ${nameDriver(holder)})` : ''}`;
  return {
    server,
    changes: [{ type: 'server:rollout', server: server.name, version: r.spec.version, phase: r.status.phase, message }],
    messages: [`the rollout of ${server.name}@${r.spec.version} is now ${message}`],
  };
}

/** A runner's tick (or a rollout's start) as one write: see `commitRolloutTick`. */
export interface RolloutTick {
  /** The controller's actions, applied to the versions in order. */
  actions: RolloutAction[];
  /** The new status; `driver` is who writes it (absent for a detached start). */
  next: Omit<RolloutRecord, 'events' | 'command'>;
  events: RolloutEvent[];
  /** The command this tick acted on (cleared unless another arrived meanwhile). */
  consumed?: RolloutCommand;
}

/** What a tick may assume about the stored rollout; checked under the store's lock. */
export type TickGuard =
  /** A running rollout: the tick applies only while `driving` still drives this rollout. */
  | { driving: RolloutDriver }
  /**
   * A new rollout: it applies only while the stored rollout is still `replacing` (the one the caller saw and
   * judged replaceable: ended, orphaned or none; undefined for none).
   */
  | { replacing: RolloutRecord | undefined };

export interface TickResult extends OpResult {
  /** Every event saved: the tick's own, then one per action the registry refused. */
  events: RolloutEvent[];
  /**
   * Set when a `driving` tick was refused because the rollout is no longer the caller's: nothing was applied
   * or saved. `driver` is who drives it now (undefined: nobody, or the rollout was replaced or removed).
   */
  superseded?: { driver: RolloutDriver | undefined };
}

/**
 * Applies one rollout tick to `current`: the controller's `actions` (set-weight, promote, rollback of
 * `next.spec.version`, each recorded with the rollout's reason; one the registry refuses becomes an
 * `analysis` event saying so, and the rest still run), then saves the status as `saveRollout` does. Run
 * inside the store's locked write, so the guard and the changes are one atomic step:
 * - `{ driving }`: when the stored rollout is not this one (same version and start) driven by `driving`,
 *   nothing is applied and the result says who drives it (`superseded`); this is not an error.
 * - `{ replacing }`: when a rollout in progress other than the one seen is stored, throws AppError `conflict`.
 * `now` is epoch ms, for the history entries and refusal events.
 */
export function commitRolloutTick(current: ServerState, tick: RolloutTick, guard: TickGuard, now: number): TickResult {
  const r = current.rollout;
  if ('driving' in guard) {
    if (!r || !isSameRollout(r, tick.next) || !sameDriver(r.driver, guard.driving)) {
      const driver = r && isSameRollout(r, tick.next) ? r.driver : undefined;
      const why = driver ? `is now driven by ${nameDriver(driver)}` : r && isSameRollout(r, tick.next) ? 'has no driver' : 'was replaced or removed';
      return {
        server: current,
        changes: [],
        messages: [`the rollout of ${current.name}@${tick.next.spec.version} ${why}: ${nameDriver(guard.driving)} stops driving it`],
        events: [],
        superseded: { driver },
      };
    }
  } else if (r && !rolloutFinished(r.status) && !(guard.replacing && isSameRollout(r, guard.replacing) && sameDriver(r.driver, guard.replacing.driver))) {
    const by = r.driver ? `, driven by ${nameDriver(r.driver)}` : '';
    throw new AppError('conflict', `server "${current.name}" already has a rollout in progress (${r.spec.version}: ${r.status.message}${by}); abort it or let it finish`);
  }
  return applyTick(current, tick, now);
}

/** A tick's actions and status applied to `current`, its guard already checked (see `commitRolloutTick`). */
function applyTick(current: ServerState, tick: RolloutTick, now: number): TickResult {
  const { spec } = tick.next;
  const events = [...tick.events];
  const changes: Change[] = [];
  let server = current;
  for (const a of tick.actions) {
    try {
      const step =
        a.type === 'set-weight'
          ? setTraffic(server, spec.version, a.percent, now, `${spec.strategy} rollout`)
          : a.type === 'promote'
            ? promote(server, spec.version, now, `${spec.strategy} rollout: all steps passed`)
            : rollback(server, spec.version, now, a.reason);
      server = step.server;
      changes.push(...step.changes);
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      // The registry refused (someone changed the versions meanwhile): say so; the next tick sees the new truth.
      events.push({ at: now, type: 'analysis', message: `could not ${a.type}: ${e.message}` });
    }
  }
  const saved = saveRollout(server, tick.next, events, tick.consumed);
  return { server: saved.server, changes: [...changes, ...saved.changes], messages: [], events };
}
