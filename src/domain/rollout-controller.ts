/**
 * The rollout controller: a pure state machine. (spec, status, observation) -> (new status, actions, events).
 * The clock comes in with the observation; the runner at the edge reads telemetry and the registry, applies
 * the actions and persists the status, so a restarted runner resumes where the rollout was.
 */
import { analyse, type Analysis, type Thresholds, type VersionWindow } from './analysis.js';
import { RolloutReason } from './reasons.js';
import type { Status } from './types.js';

export type Step = { kind: 'weight'; percent: number } | { kind: 'pause' };

export interface RolloutSpec {
  server: string;
  /** The candidate. */
  version: string;
  strategy: 'canary' | 'bluegreen';
  /** Canary: the steps; blue/green: one step of 100%. */
  steps: Step[];
  /** How long each weight step is observed before its analysis (blue/green: the bake period), ms. */
  intervalMs: number;
  /** Failed analyses that trigger the automatic rollback (default 1: the first). */
  failureLimit: number;
  thresholds: Thresholds;
}

export type Phase = 'Progressing' | 'Paused' | 'Healthy' | 'Degraded';

export interface RolloutStatus {
  phase: Phase;
  /** Index into spec.steps of the current step. */
  stepIndex: number;
  /** Start of the current analysis window (epoch ms). */
  windowStart: number;
  failures: number;
  /** One line a person reads: "step 2/4: 25% to 2.0.0, observing". */
  message: string;
  lastAnalysis?: Analysis & { at: number };
  startedAt: number;
  finishedAt?: number;
}

/** A person's request, delivered with the next observation. */
export type Command = { type: 'promote'; full: boolean } | { type: 'abort'; reason: string } | { type: 'resume' };

export interface Observation {
  now: number;
  /** What the candidate and the stable version did since `status.windowStart`. */
  candidate: VersionWindow;
  stable?: VersionWindow;
  /** The candidate's status in the registry now ('missing' when removed). */
  candidateStatus: Status | 'missing';
  /** The latest active health probe of the candidate, if any. */
  probe?: { healthy: boolean; message: string };
  command?: Command;
}

export type Action = { type: 'set-weight'; percent: number } | { type: 'promote' } | { type: 'rollback'; reason: string };

/**
 * `validated` and `process` come from outside the controller: the validation gate before the rollout starts, and
 * the router's managed processes (a green started and ready, an old blue stopped) while it runs and once it ended.
 */
export type EventType = 'started' | 'validated' | 'process' | 'weight-set' | 'analysis' | 'paused' | 'resumed' | 'promoted' | 'rolled-back' | 'ended';

export interface RolloutEvent {
  at: number;
  type: EventType;
  message: string;
  /** On `rolled-back` and `ended` events: why, as a code tools can match on (the message is for people). */
  reasonCode?: RolloutReason;
}

export interface Transition {
  status: RolloutStatus;
  actions: Action[];
  events: RolloutEvent[];
}

const stepLabel = (spec: RolloutSpec, i: number): string => `step ${i + 1}/${spec.steps.length}`;

/** Parses `10,25,pause,50,100` into steps; throws a RangeError naming the bad word. */
export function parseSteps(text: string): Step[] {
  const steps = text.split(',').map((w) => w.trim()).filter((w) => w !== '').map((w): Step => {
    if (w === 'pause') return { kind: 'pause' };
    const n = Number(w);
    if (!/^\d+$/.test(w) || n < 1 || n > 100) throw new RangeError(`step "${w}" must be a percentage from 1 to 100 or "pause"`);
    return { kind: 'weight', percent: n };
  });
  if (!steps.some((s) => s.kind === 'weight')) throw new RangeError('steps need at least one percentage');
  return steps;
}

/** Starts a rollout at `now`: the first step. */
export function start(spec: RolloutSpec, now: number): Transition {
  const status: RolloutStatus = { phase: 'Progressing', stepIndex: 0, windowStart: now, failures: 0, message: '', startedAt: now };
  const events: RolloutEvent[] = [{ at: now, type: 'started', message: `${spec.strategy} rollout of ${spec.server}@${spec.version} started` }];
  return enterStep(spec, status, 0, now, events);
}

/** True once a rollout has ended (Healthy or Degraded): nothing drives it any more, and it never changes again. */
export function rolloutFinished(status: Pick<RolloutStatus, 'phase'>): boolean {
  return status.phase === 'Healthy' || status.phase === 'Degraded';
}

/** Advances the rollout by one observation. Terminal phases (Healthy, Degraded) never change again. */
export function tick(spec: RolloutSpec, status: RolloutStatus, obs: Observation): Transition {
  const { now } = obs;
  if (rolloutFinished(status)) return { status, actions: [], events: [] };
  const events: RolloutEvent[] = [];
  const s = { ...status };

  const outside = outsideTruth(spec, s, obs.candidateStatus, now, events);
  if (outside) return outside;
  const cmd = obs.command;
  // A failing probe rolls the candidate back, unless a person said to stop or to promote outright: their word wins.
  const overrides = cmd?.type === 'abort' || (cmd?.type === 'promote' && cmd.full);
  if (obs.probe && !obs.probe.healthy && !overrides) return rollBack(s, now, `health probe failed: ${obs.probe.message}`, events, RolloutReason.HealthProbeFailed);
  const byCommand = cmd && actOn(spec, s, cmd, now, events);
  if (byCommand) return byCommand;

  const step = spec.steps[s.stepIndex]!;
  if (step.kind === 'pause' || s.phase === 'Paused') return { status: s, actions: [], events };

  const analysis = analyse(obs.candidate, obs.stable, spec.thresholds);
  const due = now - s.windowStart >= spec.intervalMs;
  // A clear failure acts at once; a pass or a lack of data only counts at the end of the interval.
  if (analysis.verdict === 'fail' || due) {
    s.lastAnalysis = { ...analysis, at: now };
    events.push({ at: now, type: 'analysis', message: `${stepLabel(spec, s.stepIndex)}: analysis ${analysis.verdict}: ${analysis.reason}` });
  }
  if (analysis.verdict === 'fail') {
    s.failures += 1;
    if (s.failures >= spec.failureLimit) return rollBack(s, now, analysis.reason, events, RolloutReason.AnalysisFailed);
    s.windowStart = now; // judge fresh data next time
    return { status: s, actions: [], events };
  }
  if (!due) return { status: s, actions: [], events };
  if (analysis.verdict === 'inconclusive') {
    s.phase = 'Paused';
    s.message = `${stepLabel(spec, s.stepIndex)}: paused, analysis inconclusive: ${analysis.reason} (resume or promote to go on)`;
    events.push({ at: now, type: 'paused', message: s.message });
    return { status: s, actions: [], events };
  }
  return enterStep(spec, s, s.stepIndex + 1, now, events);
}

/**
 * What a person's command does to a rollout by itself, with no observation: the one place this is decided,
 * for the runner's tick and for a command carried out where no runner drives the rollout. What happened to
 * the candidate outside the rollout (`candidateStatus`) wins over the command, as in `tick`. Returns
 * undefined when the command changes nothing on its own (a rollout that ended; resume of one that is not
 * paused): a runner's tick then goes on to its analysis.
 */
export function applyCommand(spec: RolloutSpec, status: RolloutStatus, command: Command, candidateStatus: Status | 'missing', now: number): Transition | undefined {
  if (rolloutFinished(status)) return undefined;
  const s = { ...status };
  return outsideTruth(spec, s, candidateStatus, now, []) ?? actOn(spec, s, command, now, []);
}

/**
 * The command that waits for a rollout's runner when `incoming` arrives while `pending` waits (one slot): an
 * abort is never replaced (a later resume or promote must not undo a person's stop), promote --full wins over
 * promote, and promote over resume (at a pause both continue; promote also goes past a step). Of two equal
 * commands the first stays.
 */
export function mergeCommands(pending: Command | undefined, incoming: Command): Command {
  return pending !== undefined && rank(pending) >= rank(incoming) ? pending : incoming;
}

const rank = (c: Command): number => (c.type === 'abort' ? 3 : c.type === 'promote' ? (c.full ? 2 : 1) : 0);

/** What happened outside the rollout wins: it is the truth now. */
function outsideTruth(spec: RolloutSpec, s: RolloutStatus, candidate: Status | 'missing', now: number, events: RolloutEvent[]): Transition | undefined {
  if (candidate === 'blue') return finish(s, 'Healthy', now, `${spec.version} was promoted outside the rollout`, [], events, RolloutReason.PromotedOutside);
  if (candidate === 'inactive' || candidate === 'missing') {
    return finish(s, 'Degraded', now, `${spec.version} was rolled back or removed outside the rollout`, [], events, RolloutReason.RolledBackOutside);
  }
  return undefined;
}

/** A command's own transition of `s` (a copy the caller owns), or undefined when it needs an analysis to mean anything. */
function actOn(spec: RolloutSpec, s: RolloutStatus, cmd: Command, now: number, events: RolloutEvent[]): Transition | undefined {
  const step = spec.steps[s.stepIndex]!;
  switch (cmd.type) {
    case 'abort':
      return rollBack(s, now, `aborted: ${cmd.reason}`, events, RolloutReason.Aborted);
    case 'promote':
      if (cmd.full) return promoteNow(spec, s, now, 'promoted by request (--full)', events);
      return continueByRequest(spec, s, now, events);
    case 'resume':
      if (step.kind === 'pause') return continueByRequest(spec, s, now, events);
      if (s.phase !== 'Paused') return undefined;
      // Paused for lack of data: observe a fresh window at the same weight.
      s.phase = 'Progressing';
      s.windowStart = now;
      s.message = `${stepLabel(spec, s.stepIndex)}: ${step.percent}% to ${spec.version}, observing again`;
      events.push({ at: now, type: 'resumed', message: s.message });
      return { status: s, actions: [], events };
  }
}

function continueByRequest(spec: RolloutSpec, s: RolloutStatus, now: number, events: RolloutEvent[]): Transition {
  events.push({ at: now, type: 'resumed', message: `${stepLabel(spec, s.stepIndex)}: continued by request` });
  return enterStep(spec, s, s.stepIndex + 1, now, events);
}

function enterStep(spec: RolloutSpec, s: RolloutStatus, index: number, now: number, events: RolloutEvent[]): Transition {
  if (index >= spec.steps.length) return promoteNow(spec, s, now, 'all steps passed', events);
  const step = spec.steps[index]!;
  const status: RolloutStatus = { ...s, stepIndex: index, windowStart: now };
  if (step.kind === 'pause') {
    status.phase = 'Paused';
    status.message = `${stepLabel(spec, index)}: paused until promoted`;
    events.push({ at: now, type: 'paused', message: status.message });
    return { status, actions: [], events };
  }
  status.phase = 'Progressing';
  status.message = `${stepLabel(spec, index)}: ${step.percent}% to ${spec.version}, observing`;
  events.push({ at: now, type: 'weight-set', message: status.message });
  return { status, actions: [{ type: 'set-weight', percent: step.percent }], events };
}

function promoteNow(spec: RolloutSpec, s: RolloutStatus, now: number, why: string, events: RolloutEvent[]): Transition {
  events.push({ at: now, type: 'promoted', message: `${spec.version} promoted to blue (${why})` });
  return finish(s, 'Healthy', now, `${spec.version} promoted (${why})`, [{ type: 'promote' }], events, RolloutReason.Promoted);
}

function rollBack(s: RolloutStatus, now: number, reason: string, events: RolloutEvent[], reasonCode: RolloutReason): Transition {
  events.push({ at: now, type: 'rolled-back', message: `rolled back: ${reason}`, reasonCode });
  return finish(s, 'Degraded', now, `rolled back: ${reason}`, [{ type: 'rollback', reason }], events, reasonCode);
}

function finish(s: RolloutStatus, phase: Phase, now: number, message: string, actions: Action[], events: RolloutEvent[], reasonCode: RolloutReason): Transition {
  events.push({ at: now, type: 'ended', message: `${phase}: ${message}`, reasonCode });
  return { status: { ...s, phase, message, finishedAt: now }, actions, events };
}
