import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DEFAULT_THRESHOLDS, type VersionWindow } from './analysis.js';
import { applyCommand, mergeCommands, parseSteps, rolloutFinished, start, tick, type Action, type Command, type RolloutSpec, type RolloutStatus } from './rollout-controller.js';
import type { Status } from './types.js';

const spec = (o: Partial<RolloutSpec> = {}): RolloutSpec => ({
  server: 'w',
  version: '2.0.0',
  strategy: 'canary',
  steps: parseSteps('10,50,100'),
  intervalMs: 30_000,
  failureLimit: 1,
  thresholds: DEFAULT_THRESHOLDS,
  ...o,
});
const good: VersionWindow = { requests: 100, errors: 1, toolCalls: 50, toolErrors: 0, crashes: 0, p99Ms: 3 };
const bad: VersionWindow = { requests: 212, errors: 66, toolCalls: 0, toolErrors: 0, crashes: 0 };
const none: VersionWindow = { requests: 0, errors: 0, toolCalls: 0, toolErrors: 0, crashes: 0 };

/** Drives a rollout with a fake clock; records every action and event in order. */
function drive(s: RolloutSpec) {
  let now = 0;
  const t0 = start(s, now);
  let status: RolloutStatus = t0.status;
  const log: string[] = t0.events.map((e) => `${e.at / 1000}s ${e.type}: ${e.message}`);
  const actions: Action[] = [...t0.actions];
  return {
    step(seconds: number, candidate: VersionWindow, extra: { command?: Command; candidateStatus?: Status | 'missing'; probe?: { healthy: boolean; message: string } } = {}) {
      now += seconds * 1000;
      const t = tick(s, status, { now, candidate, stable: good, candidateStatus: extra.candidateStatus ?? 'green', ...extra });
      status = t.status;
      actions.push(...t.actions);
      log.push(...t.events.map((e) => `${e.at / 1000}s ${e.type}: ${e.message}`));
      return status;
    },
    get status() {
      return status;
    },
    log,
    actions,
  };
}

describe('rollout controller', () => {
  it('a good canary walks every step and is promoted', () => {
    const r = drive(spec());
    r.step(10, good); // mid-interval: nothing yet
    r.step(20, good);
    r.step(30, good);
    r.step(30, good);
    assert.equal(r.status.phase, 'Healthy');
    assert.deepEqual(r.actions, [
      { type: 'set-weight', percent: 10 },
      { type: 'set-weight', percent: 50 },
      { type: 'set-weight', percent: 100 },
      { type: 'promote' },
    ]);
    assert.deepEqual(r.log, [
      '0s started: canary rollout of w@2.0.0 started',
      '0s weight-set: step 1/3: 10% to 2.0.0, observing',
      '30s analysis: step 1/3: analysis pass: error rate 1% over 100 requests; tool error rate 0% over 50 tool calls; p99 latency 3 ms; 0 backend crashes',
      '30s weight-set: step 2/3: 50% to 2.0.0, observing',
      '60s analysis: step 2/3: analysis pass: error rate 1% over 100 requests; tool error rate 0% over 50 tool calls; p99 latency 3 ms; 0 backend crashes',
      '60s weight-set: step 3/3: 100% to 2.0.0, observing',
      '90s analysis: step 3/3: analysis pass: error rate 1% over 100 requests; tool error rate 0% over 50 tool calls; p99 latency 3 ms; 0 backend crashes',
      '90s promoted: 2.0.0 promoted to blue (all steps passed)',
      '90s ended: Healthy: 2.0.0 promoted (all steps passed)',
    ]);
  });

  it('a bad canary is rolled back at the first failure, mid-interval, with the figures', () => {
    const r = drive(spec());
    r.step(1, bad);
    assert.equal(r.status.phase, 'Degraded');
    assert.deepEqual(r.actions.at(-1), { type: 'rollback', reason: 'error rate 31.1% > 10% over 212 requests' });
    assert.equal(r.status.message, 'rolled back: error rate 31.1% > 10% over 212 requests');
    assert.equal(r.status.finishedAt, 1000);
    // Terminal: nothing moves it again.
    r.step(60, good);
    assert.equal(r.actions.length, 2);
  });

  it('with a failure limit of 2, one failure opens a fresh window; the second rolls back', () => {
    const r = drive(spec({ failureLimit: 2 }));
    r.step(1, bad);
    assert.equal(r.status.phase, 'Progressing');
    assert.equal(r.status.windowStart, 1000);
    r.step(1, bad);
    assert.equal(r.status.phase, 'Degraded');
  });

  it('no traffic pauses with the reason and never rolls back; resume observes again', () => {
    const r = drive(spec());
    r.step(30, none);
    assert.equal(r.status.phase, 'Paused');
    assert.match(r.status.message, /step 1\/3: paused, analysis inconclusive: only 0 requests, 20 needed/);
    r.step(300, none);
    assert.equal(r.status.phase, 'Paused');
    assert.ok(!r.actions.some((a) => a.type === 'rollback'));
    r.step(1, none, { command: { type: 'resume' } });
    assert.equal(r.status.phase, 'Progressing');
    assert.equal(r.status.stepIndex, 0);
    r.step(30, good);
    assert.equal(r.status.stepIndex, 1);
  });

  it('a pause step waits for promote, then goes on', () => {
    const r = drive(spec({ steps: parseSteps('10,pause,100') }));
    r.step(30, good);
    assert.equal(r.status.phase, 'Paused');
    assert.equal(r.status.message, 'step 2/3: paused until promoted');
    r.step(600, good);
    assert.equal(r.status.phase, 'Paused');
    r.step(1, good, { command: { type: 'promote', full: false } });
    assert.deepEqual(r.actions.at(-1), { type: 'set-weight', percent: 100 });
    assert.equal(r.status.phase, 'Progressing');
  });

  it('promote --full skips the remaining steps; abort rolls back with the reason', () => {
    const a = drive(spec());
    a.step(1, good, { command: { type: 'promote', full: true } });
    assert.deepEqual(a.actions.at(-1), { type: 'promote' });
    assert.equal(a.status.phase, 'Healthy');
    const b = drive(spec());
    b.step(1, good, { command: { type: 'abort', reason: 'saw bad logs' } });
    assert.deepEqual(b.actions.at(-1), { type: 'rollback', reason: 'aborted: saw bad logs' });
  });

  it('a failed health probe rolls back; a change made outside the rollout ends it', () => {
    const a = drive(spec());
    a.step(3, none, { probe: { healthy: false, message: 'tools/list timed out after 5000 ms' } });
    assert.deepEqual(a.actions.at(-1), { type: 'rollback', reason: 'health probe failed: tools/list timed out after 5000 ms' });
    const b = drive(spec());
    b.step(3, good, { candidateStatus: 'inactive' });
    assert.equal(b.status.phase, 'Degraded');
    assert.equal(b.actions.length, 1, 'no action of its own');
  });

  it('every way a rollout ends carries its reason code on the rolled-back and ended events; then it is finished', () => {
    const rows: [string, Parameters<typeof tick>[2], string][] = [
      ['all steps', { now: 1, candidate: good, candidateStatus: 'green', command: { type: 'promote', full: true } }, 'ended:Promoted'],
      ['abort', { now: 1, candidate: good, candidateStatus: 'green', command: { type: 'abort', reason: 'x' } }, 'rolled-back:Aborted ended:Aborted'],
      ['probe', { now: 1, candidate: good, candidateStatus: 'green', probe: { healthy: false, message: 'x' } }, 'rolled-back:HealthProbeFailed ended:HealthProbeFailed'],
      ['analysis', { now: 1, candidate: bad, candidateStatus: 'green' }, 'rolled-back:AnalysisFailed ended:AnalysisFailed'],
      ['promoted outside', { now: 1, candidate: good, candidateStatus: 'blue' }, 'ended:PromotedOutside'],
      ['removed outside', { now: 1, candidate: good, candidateStatus: 'missing' }, 'ended:RolledBackOutside'],
    ];
    for (const [name, obs, want] of rows) {
      const s = spec();
      const t = tick(s, start(s, 0).status, obs);
      const coded = t.events.filter((e) => e.reasonCode !== undefined).map((e) => `${e.type}:${e.reasonCode}`).join(' ');
      assert.equal(coded, want, name);
      assert.ok(rolloutFinished(t.status), name);
    }
    assert.equal(rolloutFinished(start(spec(), 0).status), false);
  });

  it('blue/green: one 100% step baked for the interval, then promoted', () => {
    const r = drive(spec({ strategy: 'bluegreen', steps: [{ kind: 'weight', percent: 100 }], intervalMs: 60_000 }));
    r.step(30, good);
    assert.equal(r.status.phase, 'Progressing');
    r.step(30, good);
    assert.deepEqual(r.actions, [{ type: 'set-weight', percent: 100 }, { type: 'promote' }]);
  });

  it('a command on its own (no runner, no observation): what it does, for every command', () => {
    const s = spec({ steps: parseSteps('10,pause,100') });
    const at = (stepIndex: number, phase: RolloutStatus['phase']): RolloutStatus => ({ ...start(s, 0).status, stepIndex, phase });
    const abort: Command = { type: 'abort', reason: 'saw bad logs' };
    const promote: Command = { type: 'promote', full: false };
    const full: Command = { type: 'promote', full: true };
    const resume: Command = { type: 'resume' };
    // [command, status, candidate in the registry] -> [phase after, step after, actions]; undefined: nothing on its own.
    const table: [Command, RolloutStatus, Status | 'missing', [string, number, Action[]] | undefined][] = [
      [abort, at(0, 'Progressing'), 'green', ['Degraded', 0, [{ type: 'rollback', reason: 'aborted: saw bad logs' }]]],
      [abort, at(1, 'Paused'), 'green', ['Degraded', 1, [{ type: 'rollback', reason: 'aborted: saw bad logs' }]]],
      [full, at(0, 'Paused'), 'green', ['Healthy', 0, [{ type: 'promote' }]]],
      [promote, at(0, 'Paused'), 'green', ['Paused', 1, []]], // step 2 is a pause
      [promote, at(1, 'Paused'), 'green', ['Progressing', 2, [{ type: 'set-weight', percent: 100 }]]],
      [resume, at(1, 'Paused'), 'green', ['Progressing', 2, [{ type: 'set-weight', percent: 100 }]]],
      [resume, at(0, 'Paused'), 'green', ['Progressing', 0, []]], // paused for lack of data: observe again
      [resume, at(0, 'Progressing'), 'green', undefined],
      [abort, at(0, 'Healthy'), 'green', undefined],
      [abort, at(0, 'Progressing'), 'blue', ['Healthy', 0, []]], // promoted outside the rollout: that is the truth
      [promote, at(0, 'Progressing'), 'missing', ['Degraded', 0, []]],
    ];
    for (const [cmd, status, candidate, want] of table) {
      const t = applyCommand(s, status, cmd, candidate, 5000);
      const label = `${JSON.stringify(cmd)} at step ${status.stepIndex + 1} ${status.phase}, candidate ${candidate}`;
      assert.deepEqual(t && [t.status.phase, t.status.stepIndex, t.actions], want, label);
    }
    // The runner's tick decides the same as a command alone.
    const alone = applyCommand(s, at(0, 'Progressing'), abort, 'green', 5000)!;
    assert.deepEqual(tick(s, at(0, 'Progressing'), { now: 5000, candidate: good, candidateStatus: 'green', command: abort }), alone);
  });

  it('a pending command merged with a new one: an abort is never replaced', () => {
    const abort: Command = { type: 'abort', reason: 'first' };
    const promote: Command = { type: 'promote', full: false };
    const full: Command = { type: 'promote', full: true };
    const resume: Command = { type: 'resume' };
    const table: [Command | undefined, Command, Command][] = [
      [undefined, resume, resume],
      [abort, resume, abort],
      [abort, promote, abort],
      [abort, full, abort],
      [abort, { type: 'abort', reason: 'second' }, abort],
      [resume, abort, abort],
      [full, abort, abort],
      [promote, full, full],
      [full, promote, full],
      [resume, promote, promote],
      [promote, resume, promote],
    ];
    for (const [pending, incoming, stays] of table) assert.deepEqual(mergeCommands(pending, incoming), stays, `${JSON.stringify(pending)} then ${JSON.stringify(incoming)}`);
  });

  it('parseSteps', () => {
    assert.deepEqual(parseSteps('10, pause ,100'), [{ kind: 'weight', percent: 10 }, { kind: 'pause' }, { kind: 'weight', percent: 100 }]);
    assert.throws(() => parseSteps('10,abc'), /step "abc"/);
    assert.throws(() => parseSteps('0'), /from 1 to 100/);
    assert.throws(() => parseSteps('pause'), /at least one percentage/);
  });
});
