import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AppError } from '../errors.js';
import { checkServer } from './invariants.js';
import { DEFAULT_THRESHOLDS } from './analysis.js';
import { parseSteps, start, tick, type RolloutSpec } from './rollout-controller.js';
import { claimRollout, commandRollout, commitRolloutTick, deploy, promote, recordValidation, refusedAtGate, removeVersion, rollback, saveRollout, setHealth, setTraffic, type OpResult } from './registry-ops.js';
import type { RolloutDriver, ServerState, Transport, ValidationSummary } from './types.js';

const stdio: Transport = { type: 'stdio', command: 'node', args: ['server.js'], env: {} };
const shares = (s: ServerState): Record<string, string> =>
  Object.fromEntries(s.versions.map((v) => [v.version, `${v.status} ${v.trafficPercentage}`]));

/** Deploys versions in order; the first becomes blue. */
function serverWith(...versions: [string, number?][]): ServerState {
  let s: ServerState | undefined;
  let t = 1000;
  for (const [v, traffic] of versions) s = deploy(s, 'w', { version: v, transport: stdio, ...(traffic === undefined ? {} : { traffic }) }, t++).server;
  return s!;
}

describe('deploy', () => {
  it('the first version becomes blue at 100% and says so', () => {
    const r = deploy(undefined, 'w', { version: '1.0.0', transport: stdio, traffic: 30 }, 5);
    assert.deepEqual(shares(r.server), { '1.0.0': 'blue 100' });
    assert.match(r.messages.join('\n'), /first version .* blue at 100%/);
    assert.equal(r.server.mcpVersionHistory.currentBlue, '1.0.0');
    assert.equal(r.server.versions[0]!.deploymentTimestamp, 5);
    assert.deepEqual(r.changes.map((c) => c.type), ['server:registered']);
  });
  it('a green deploy takes exactly --traffic, default 0', () => {
    assert.deepEqual(shares(serverWith(['1.0.0'], ['1.1.0'])), { '1.0.0': 'blue 100', '1.1.0': 'green 0' });
    const s = serverWith(['1.0.0'], ['1.1.0', 10], ['1.2.0', 10]);
    assert.deepEqual(shares(s), { '1.0.0': 'blue 81', '1.1.0': 'green 9', '1.2.0': 'green 10' });
  });
  it('reports the registration once and the other versions\' moves as traffic changes', () => {
    const base = serverWith(['1.0.0']);
    const r = deploy(base, 'w', { version: '2.0.0', transport: stdio, traffic: 20 }, 9);
    assert.deepEqual(
      r.changes.map((c) => [c.type, 'version' in c ? c.version : '']),
      [['server:registered', '2.0.0'], ['server:traffic-changed', '1.0.0']],
    );
    assert.deepEqual(r.changes[1], { type: 'server:traffic-changed', server: 'w', version: '1.0.0', oldPercentage: 100, newPercentage: 80 });
  });
  it('--blue swaps at once and remembers the old blue as the rollback target', () => {
    const s = serverWith(['1.0.0'], ['1.1.0', 30]);
    const r = deploy(s, 'w', { version: '2.0.0', transport: stdio, blue: true }, 9);
    assert.deepEqual(shares(r.server), { '1.0.0': 'inactive 0', '1.1.0': 'green 0', '2.0.0': 'blue 100' });
    assert.deepEqual(r.server.mcpVersionHistory.rollbackStack, ['1.0.0']);
  });
  it('refuses bad names, bad semver, bad percentages and duplicates, leaving the input untouched', () => {
    const s = serverWith(['1.0.0']);
    const before = structuredClone(s);
    assert.throws(() => deploy(s, 'w', { version: '1.0', transport: stdio }, 1), /invalid version "1.0"/);
    assert.throws(() => deploy(s, 'w', { version: '1.0.0', transport: stdio }, 1), /already has version "1.0.0"/);
    assert.throws(() => deploy(s, 'w', { version: '2.0.0', transport: stdio, traffic: 120 }, 1), /integer from 0 to 100/);
    assert.throws(() => deploy(undefined, 'bad name', { version: '1.0.0', transport: stdio }, 1), /invalid server name/);
    assert.deepEqual(s, before);
  });
});

describe('promote', () => {
  it('makes a green blue at 100%, old blue inactive on the stack, other greens 0% and green', () => {
    const s = serverWith(['1.0.0'], ['1.1.0', 20], ['1.2.0', 10]);
    const r = promote(s, '1.1.0', 50);
    assert.deepEqual(shares(r.server), { '1.0.0': 'inactive 0', '1.1.0': 'blue 100', '1.2.0': 'green 0' });
    assert.deepEqual(r.server.mcpVersionHistory.rollbackStack, ['1.0.0']);
    assert.equal(r.server.mcpVersionHistory.currentBlue, '1.1.0');
  });
  it('promoting the blue is a no-op that says so', () => {
    const s = serverWith(['1.0.0']);
    const r = promote(s, '1.0.0', 50);
    assert.equal(r.changes.length, 0);
    assert.match(r.messages[0]!, /already blue/);
  });
  it('an unknown version is an error naming server and version', () => {
    assert.throws(() => promote(serverWith(['1.0.0']), '9.0.0', 1), /server "w" has no version "9.0.0"/);
  });
});

describe('rollback', () => {
  it('a green goes inactive, the blue returns to 100%, other greens to 0%, with the reason recorded', () => {
    const s = serverWith(['1.0.0'], ['1.1.0', 20], ['1.2.0', 10]);
    const r = rollback(s, '1.2.0', 77, 'error rate 31% > 10%');
    assert.deepEqual(shares(r.server), { '1.0.0': 'blue 100', '1.1.0': 'green 0', '1.2.0': 'inactive 0' });
    assert.deepEqual(r.server.mcpVersionHistory.lastRollback, { fromVersion: '1.2.0', toVersion: '1.0.0', timestamp: 77, reason: 'error rate 31% > 10%' });
    assert.deepEqual(r.changes[0], { type: 'server:rollback', server: 'w', fromVersion: '1.2.0', toVersion: '1.0.0', timestamp: 77, reason: 'error rate 31% > 10%' });
    assert.ok(r.server.history.some((e) => e.kind === 'rollback' && e.reason === 'error rate 31% > 10%'));
  });
  it('rolling back the blue restores the previous blue, several steps deep', () => {
    let s = serverWith(['1.0.0'], ['2.0.0']);
    s = promote(s, '2.0.0', 10).server;
    s = deploy(s, 'w', { version: '3.0.0', transport: stdio, blue: true }, 11).server;
    s = rollback(s, '3.0.0', 12).server;
    assert.deepEqual(shares(s), { '1.0.0': 'inactive 0', '2.0.0': 'blue 100', '3.0.0': 'inactive 0' });
    s = rollback(s, '2.0.0', 13).server;
    assert.deepEqual(shares(s), { '1.0.0': 'blue 100', '2.0.0': 'inactive 0', '3.0.0': 'inactive 0' });
    assert.throws(() => rollback(s, '1.0.0', 14), /no previous blue version/);
  });
  it('skips stack entries that were removed', () => {
    let s = serverWith(['1.0.0'], ['2.0.0'], ['3.0.0']);
    s = promote(s, '2.0.0', 10).server;
    s = promote(s, '3.0.0', 11).server; // stack: 1.0.0, 2.0.0
    s = removeVersion(s, '2.0.0', 12).server;
    s = rollback(s, '3.0.0', 13).server;
    assert.equal(s.mcpVersionHistory.currentBlue, '1.0.0');
  });
  it('an inactive version cannot be rolled back', () => {
    let s = serverWith(['1.0.0'], ['2.0.0']);
    s = rollback(s, '2.0.0', 3).server;
    assert.throws(() => rollback(s, '2.0.0', 4), /inactive: nothing to roll back/);
  });
});

describe('remove', () => {
  it('refuses the blue', () => {
    assert.throws(() => removeVersion(serverWith(['1.0.0']), '1.0.0', 1), /cannot remove blue version "1.0.0" of server "w"/);
  });
  it("a green's share returns as if set to 0; its history stays", () => {
    const s = serverWith(['1.0.0'], ['1.1.0', 20], ['1.2.0', 10]);
    const r = removeVersion(s, '1.2.0', 9);
    assert.deepEqual(shares(r.server), { '1.0.0': 'blue 80', '1.1.0': 'green 20' });
    assert.ok(r.server.history.filter((e) => e.version === '1.2.0').length >= 2);
    assert.ok(r.server.mcpVersionHistory.versions.includes('1.2.0'));
  });
});

describe('setTraffic', () => {
  it('the design workflow 0 -> 20 -> 50 -> 100', () => {
    let s = serverWith(['1.0.0'], ['2.0.0']);
    s = setTraffic(s, '2.0.0', 20, 1).server;
    assert.deepEqual(shares(s), { '1.0.0': 'blue 80', '2.0.0': 'green 20' });
    s = setTraffic(s, '2.0.0', 50, 2).server;
    assert.deepEqual(shares(s), { '1.0.0': 'blue 50', '2.0.0': 'green 50' });
    s = setTraffic(s, '2.0.0', 100, 3).server;
    assert.deepEqual(shares(s), { '1.0.0': 'blue 0', '2.0.0': 'green 100' });
  });
  it('setting the same value changes nothing and reports no change', () => {
    const s = serverWith(['1.0.0'], ['2.0.0', 20]);
    const r = setTraffic(s, '2.0.0', 20, 5);
    assert.equal(r.changes.length, 0);
    assert.equal(r.server.history.length, s.history.length);
  });
});

describe('health', () => {
  it('records a change only when the health differs', () => {
    const s = serverWith(['1.0.0']);
    const a = setHealth(s, '1.0.0', 'healthy', 1);
    assert.deepEqual(a.changes, [{ type: 'server:health-changed', server: 'w', version: '1.0.0', oldHealth: 'unknown', newHealth: 'healthy' }]);
    assert.equal(setHealth(a.server, '1.0.0', 'healthy', 2).changes.length, 0);
  });
});

describe('a version refused at the validation gate', () => {
  const failed: ValidationSummary = { at: 1, ok: false, failures: ['shutdown: it had to be killed with SIGKILL'] };
  const passed: ValidationSummary = { at: 2, ok: true, failures: [] };
  const refuse = (s: ServerState | undefined, version: string, now: number): ServerState =>
    deploy(s, 'w', { version, transport: stdio, validation: failed, rejected: failed.failures.join('; ') }, now).server;

  it('a refused first version becomes blue at 100% when a later validation passes, and the history says why', () => {
    const s = refuse(undefined, '1.0.0', 1);
    assert.deepEqual(shares(s), { '1.0.0': 'inactive 0' });
    assert.throws(() => promote(s, '1.0.0', 2), /cannot promote "1\.0\.0": server "w" has no blue version/);
    const r = recordValidation(s, '1.0.0', passed, undefined, 3);
    assert.deepEqual(shares(r.server), { '1.0.0': 'blue 100' });
    assert.equal(r.server.mcpVersionHistory.currentBlue, '1.0.0');
    assert.deepEqual(r.changes.map((c) => c.type), ['server:validated', 'server:status-changed', 'server:traffic-changed']);
    assert.deepEqual(r.server.history.slice(-3).map((e) => [e.kind, e.reason ?? '']), [
      ['validated', ''],
      ['status', 'validation passed after the gate had refused it'],
      ['traffic', 'validation passed after the gate had refused it'],
    ]);
    assert.match(r.messages.join('\n'), /refused at the gate; as the first version of "w" to pass it becomes blue at 100%/);
    assert.deepEqual(checkServer(r.server), []);
  });

  it('beside a blue, it becomes green at 0% when a validation passes, and only then can be promoted', () => {
    const s = refuse(serverWith(['1.0.0']), '2.0.0', 5);
    assert.equal(refusedAtGate(s, '2.0.0'), true);
    assert.throws(() => promote(s, '2.0.0', 6), /cannot promote "2\.0\.0": server "w" refused it at the validation gate \(shutdown: it had to be killed with SIGKILL\); validate it again/);
    const still = recordValidation(s, '2.0.0', failed, undefined, 6);
    assert.deepEqual(shares(still.server), { '1.0.0': 'blue 100', '2.0.0': 'inactive 0' }, 'a failing validation moves nothing');
    const r = recordValidation(still.server, '2.0.0', passed, undefined, 7);
    assert.deepEqual(shares(r.server), { '1.0.0': 'blue 100', '2.0.0': 'green 0' });
    assert.equal(refusedAtGate(r.server, '2.0.0'), false);
    assert.deepEqual(shares(promote(r.server, '2.0.0', 8).server), { '1.0.0': 'inactive 0', '2.0.0': 'blue 100' });
  });

  it('an old blue retired by a promotion is no refused version: validating it moves nothing', () => {
    const s = promote(serverWith(['1.0.0'], ['2.0.0']), '2.0.0', 9).server;
    assert.equal(refusedAtGate(s, '1.0.0'), false);
    const r = recordValidation(s, '1.0.0', passed, undefined, 10);
    assert.deepEqual(shares(r.server), { '1.0.0': 'inactive 0', '2.0.0': 'blue 100' });
    assert.deepEqual(r.changes.map((c) => c.type), ['server:validated']);
  });
});

describe('invariants hold under any sequence of operations', () => {
  const versions = ['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0'];
  const op = fc.oneof(
    fc.record({ k: fc.constant('deploy'), v: fc.constantFrom(...versions), t: fc.integer({ min: 0, max: 100 }), blue: fc.boolean() }),
    fc.record({ k: fc.constant('traffic'), v: fc.constantFrom(...versions), t: fc.integer({ min: 0, max: 100 }) }),
    fc.record({ k: fc.constant('promote'), v: fc.constantFrom(...versions) }),
    fc.record({ k: fc.constant('rollback'), v: fc.constantFrom(...versions) }),
    fc.record({ k: fc.constant('remove'), v: fc.constantFrom(...versions) }),
    fc.record({ k: fc.constant('refused'), v: fc.constantFrom(...versions) }),
    fc.record({ k: fc.constant('validate'), v: fc.constantFrom(...versions), ok: fc.boolean() }),
  );
  it('every result satisfies checkServer; every refusal is an AppError and leaves the state as it was', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (seq) => {
        let s: ServerState | undefined;
        seq.forEach((o, now) => {
          const before = structuredClone(s);
          let r: OpResult;
          try {
            if (o.k === 'deploy') r = deploy(s, 'w', { version: o.v, transport: stdio, traffic: (o as { t: number }).t, blue: (o as { blue: boolean }).blue }, now);
            else if (o.k === 'refused') r = deploy(s, 'w', { version: o.v, transport: stdio, validation: { at: now, ok: false, failures: ['x'] }, rejected: 'x' }, now);
            else if (!s) return;
            else if (o.k === 'validate') r = recordValidation(s, o.v, { at: now, ok: (o as { ok: boolean }).ok, failures: [] }, undefined, now);
            else if (o.k === 'traffic') r = setTraffic(s, o.v, (o as { t: number }).t, now);
            else if (o.k === 'promote') r = promote(s, o.v, now);
            else if (o.k === 'rollback') r = rollback(s, o.v, now);
            else r = removeVersion(s, o.v, now);
          } catch (e) {
            assert.ok(e instanceof AppError, String(e));
            assert.deepEqual(s, before);
            return;
          }
          assert.deepEqual(checkServer(r.server), []);
          if (o.k === 'traffic') assert.equal(r.server.versions.find((v) => v.version === o.v)!.trafficPercentage, (o as { t: number }).t);
          s = r.server;
        });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('rollout drivers: claim and guarded ticks', () => {
  const spec: RolloutSpec = { server: 'w', version: '2.0.0', strategy: 'canary', steps: parseSteps('20,100'), intervalMs: 1000, failureLimit: 1, thresholds: DEFAULT_THRESHOLDS };
  const A: RolloutDriver = { pid: 11, host: 'h1' };
  const B: RolloutDriver = { pid: 22, host: 'h1' };
  const DEAD: RolloutDriver = { pid: 33, host: 'h1' };
  /** 1.0.0 blue, 2.0.0 green at 20%, and a rollout of 2.0.0 started at 5000 (by `driver`, if given). */
  function withRollout(driver?: RolloutDriver): ServerState {
    const t = start(spec, 5000);
    const s = setTraffic(serverWith(['1.0.0'], ['2.0.0']), '2.0.0', 20, 5000).server;
    return saveRollout(s, { spec, status: t.status, ...(driver ? { driver } : {}) }, t.events).server;
  }
  const isConflict = (pattern: RegExp) => (e: unknown) => e instanceof AppError && e.code === 'conflict' && pattern.test(e.message);

  it('a claim takes over from the driver seen dead, or from none, and records who took over from whom', () => {
    const r = claimRollout(withRollout(DEAD), A, DEAD);
    assert.deepEqual(r.server.rollout!.driver, A);
    assert.deepEqual(r.changes, [{ type: 'server:rollout', server: 'w', version: '2.0.0', phase: 'Progressing', message: 'driven by process 11 on h1 (taken over from process 33 on h1)' }]);
    assert.deepEqual(claimRollout(withRollout(), A, undefined).server.rollout!.driver, A);
  });
  it('of two claims on the same dead driver, the second finds the first and fails naming it', () => {
    const first = claimRollout(withRollout(DEAD), A, DEAD).server;
    const before = structuredClone(first);
    assert.throws(() => claimRollout(first, B, DEAD), isConflict(/^the rollout of "w" is already driven by process 11 on h1$/));
    assert.throws(() => claimRollout(claimRollout(withRollout(), A, undefined).server, B, undefined), isConflict(/already driven by process 11 on h1/));
    assert.deepEqual(first, before);
  });
  it('re-claiming its own rollout changes nothing; an ended one is returned as it is; none is a conflict', () => {
    assert.equal(claimRollout(withRollout(A), A, A).changes.length, 0);
    const done = withRollout(A);
    done.rollout!.status = { ...done.rollout!.status, phase: 'Healthy', message: '2.0.0 promoted' };
    const r = claimRollout(done, B, A);
    assert.equal(r.changes.length, 0);
    assert.deepEqual(r.server.rollout!.driver, A);
    assert.throws(() => claimRollout(serverWith(['1.0.0']), A, undefined), isConflict(/server "w" has no rollout to drive/));
  });

  it('a tick by the driver applies its actions and saves the status and events in one result', () => {
    const s = withRollout(A);
    const status = { ...s.rollout!.status, stepIndex: 1, message: 'step 2/2: 100% to 2.0.0, observing' };
    const events = [{ at: 6000, type: 'weight-set' as const, message: status.message }];
    const r = commitRolloutTick(s, { actions: [{ type: 'set-weight', percent: 100 }], next: { spec, status, driver: A }, events }, { driving: A }, 6000);
    assert.equal(r.superseded, undefined);
    assert.deepEqual(shares(r.server), { '1.0.0': 'blue 0', '2.0.0': 'green 100' });
    assert.deepEqual(r.changes.map((c) => c.type), ['server:traffic-changed', 'server:traffic-changed', 'server:rollout']);
    assert.deepEqual(r.server.rollout!.events.map((e) => e.type), ['started', 'weight-set', 'weight-set']);
    assert.deepEqual(r.events, events);
  });
  it('a tick that only counts a failed analysis is saved, so a canary failing below its limit reaches it; an idle tick writes nothing', () => {
    const spec2 = { ...spec, failureLimit: 2 };
    const t0 = start(spec2, 5000);
    let stored = saveRollout(setTraffic(serverWith(['1.0.0'], ['2.0.0']), '2.0.0', 20, 5000).server, { spec: spec2, status: t0.status, driver: A }, t0.events).server;
    // As every store does: a write that reports no change is not written.
    const step = (now: number, errors: number): number => {
      const candidate = { requests: errors === 0 ? 0 : 100, errors, toolCalls: 0, toolErrors: 0, crashes: 0 };
      const t = tick(spec2, stored.rollout!.status, { now, candidate, candidateStatus: 'green' });
      const r = commitRolloutTick(stored, { actions: t.actions, next: { spec: spec2, status: t.status, driver: A }, events: t.events }, { driving: A }, now);
      if (r.changes.length > 0) stored = r.server;
      return r.changes.length;
    };
    assert.equal(step(5100, 0), 0, 'nothing happened: nothing to write');
    assert.ok(step(5200, 50) > 0, 'the first failure is a change');
    assert.equal(stored.rollout!.status.failures, 1);
    assert.equal(stored.rollout!.status.windowStart, 5200);
    assert.match(stored.rollout!.events.at(-1)!.message, /analysis fail: error rate 50%/);
    step(5300, 50);
    assert.equal(stored.rollout!.status.phase, 'Degraded', 'the second failure reaches the limit of 2: rolled back');
    assert.deepEqual(shares(stored), { '1.0.0': 'blue 100', '2.0.0': 'inactive 0' });
  });
  it('a tick by a runner that was taken over (or whose rollout was replaced) applies nothing and says who drives it', () => {
    const s = claimRollout(withRollout(A), B, A).server;
    const next = { spec, status: { ...s.rollout!.status, stepIndex: 1 }, driver: A };
    const r = commitRolloutTick(s, { actions: [{ type: 'set-weight', percent: 100 }], next, events: [{ at: 6000, type: 'weight-set', message: 'x' }] }, { driving: A }, 6000);
    assert.deepEqual(r.superseded, { driver: B });
    assert.equal(r.server, s);
    assert.deepEqual(r.changes, []);
    assert.deepEqual(r.events, []);
    assert.match(r.messages[0]!, /is now driven by process 22 on h1: process 11 on h1 stops driving it/);
    const replaced = commitRolloutTick(s, { actions: [], next: { ...next, status: { ...next.status, startedAt: 1 } }, events: [] }, { driving: B }, 6000);
    assert.deepEqual(replaced.superseded, { driver: undefined });
  });
  it('an action the registry refuses becomes an analysis event; the status is still saved', () => {
    const s = withRollout(A);
    const gone = rollback(s, '2.0.0', 5500, 'by hand').server;
    const status = { ...s.rollout!.status, phase: 'Degraded' as const, message: 'rolled back' };
    const r = commitRolloutTick(gone, { actions: [{ type: 'rollback', reason: 'error rate' }], next: { spec, status, driver: A }, events: [] }, { driving: A }, 6000);
    assert.deepEqual(r.events, [{ at: 6000, type: 'analysis', message: 'could not rollback: version "2.0.0" of server "w" is inactive: nothing to roll back' }]);
    assert.equal(r.server.rollout!.status.phase, 'Degraded');
  });
  it('a command for a rollout whose driver is gone is carried out in the write, and the rollout is left with no driver', () => {
    const r = commandRollout(withRollout(DEAD), { type: 'abort', reason: 'saw bad logs' }, 6000, { driver: DEAD });
    assert.deepEqual(shares(r.server), { '1.0.0': 'blue 100', '2.0.0': 'inactive 0' });
    assert.equal(r.server.rollout!.status.phase, 'Degraded');
    assert.equal(r.server.rollout!.driver, undefined);
    assert.equal(r.server.rollout!.command, undefined);
    assert.deepEqual(r.server.mcpVersionHistory.lastRollback, { fromVersion: '2.0.0', toVersion: '1.0.0', timestamp: 6000, reason: 'aborted: saw bad logs' });
    assert.deepEqual(r.server.rollout!.events.map((e) => e.type), ['started', 'weight-set', 'rolled-back', 'ended']);
    assert.deepEqual(r.messages, ['abort requested for the rollout of w@2.0.0: rolled back: aborted: saw bad logs (done by this command: no runner was driving the rollout)']);
    // No driver at all (a detached start): the same.
    assert.equal(commandRollout(withRollout(), { type: 'promote', full: true }, 6000, { driver: undefined }).server.rollout!.status.phase, 'Healthy');
    // A step forward leaves the rollout going, for the next runner.
    const step = commandRollout(withRollout(DEAD), { type: 'promote', full: false }, 6000, { driver: DEAD });
    assert.deepEqual(shares(step.server), { '1.0.0': 'blue 0', '2.0.0': 'green 100' });
    assert.equal(step.server.rollout!.status.phase, 'Progressing');
    assert.match(step.messages[0]!, /^promote requested for the rollout of w@2\.0\.0: step 2\/2: 100% to 2\.0\.0, observing \(done by this command: no runner was driving the rollout; no runner drives it on until/);
  });
  it('a command for a live driver is left to it, named; one that a driver claimed since it was judged gone too', () => {
    const live = commandRollout(withRollout(A), { type: 'abort', reason: 'x' }, 6000);
    assert.deepEqual(live.server.rollout!.command, { type: 'abort', reason: 'x' });
    assert.deepEqual(shares(live.server), { '1.0.0': 'blue 80', '2.0.0': 'green 20' });
    assert.deepEqual(live.messages, ['abort requested for the rollout of w@2.0.0; the runner (pid 11 on host h1) will act within a second']);
    const claimed = claimRollout(withRollout(DEAD), B, DEAD).server;
    const r = commandRollout(claimed, { type: 'abort', reason: 'x' }, 6000, { driver: DEAD });
    assert.equal(r.server.rollout!.status.phase, 'Progressing');
    assert.deepEqual(r.server.rollout!.command, { type: 'abort', reason: 'x' });
    assert.match(r.messages[0]!, /the runner \(pid 22 on host h1\) will act within a second$/);
  });
  it('a pending abort wins over a later resume or promote: left pending, or carried out when nobody drives', () => {
    const pending = commandRollout(withRollout(A), { type: 'abort', reason: 'first' }, 6000).server;
    const resumed = commandRollout(pending, { type: 'resume' }, 6500);
    assert.deepEqual(resumed.server.rollout!.command, { type: 'abort', reason: 'first' });
    assert.deepEqual(resumed.changes, []);
    assert.match(resumed.messages[0]!, /^abort is already pending for the rollout of w@2\.0\.0 and wins over resume; the runner \(pid 11 on host h1\)/);
    // Its runner died before acting on it: the resume carries the abort out.
    const r = commandRollout(pending, { type: 'promote', full: true }, 7000, { driver: A });
    assert.equal(r.server.rollout!.status.message, 'rolled back: aborted: first');
    assert.deepEqual(shares(r.server), { '1.0.0': 'blue 100', '2.0.0': 'inactive 0' });
  });
  it('a start replaces only the rollout it saw: none, an ended one or an orphan, never one started since', () => {
    const base = serverWith(['1.0.0'], ['2.0.0']);
    const t = start(spec, 7000);
    const tick = { actions: t.actions, next: { spec, status: t.status, driver: B }, events: t.events };
    const fresh = commitRolloutTick(base, tick, { replacing: undefined }, 7000);
    assert.deepEqual(shares(fresh.server), { '1.0.0': 'blue 80', '2.0.0': 'green 20' });
    assert.deepEqual(fresh.server.rollout!.driver, B);
    const orphan = withRollout(DEAD);
    assert.deepEqual(commitRolloutTick(orphan, tick, { replacing: orphan.rollout }, 7000).server.rollout!.driver, B);
    assert.throws(() => commitRolloutTick(withRollout(A), tick, { replacing: undefined }, 7000), isConflict(/server "w" already has a rollout in progress \(2.0.0: .*, driven by process 11 on h1\)/));
    assert.throws(() => commitRolloutTick(claimRollout(orphan, A, DEAD).server, tick, { replacing: orphan.rollout }, 7000), isConflict(/already has a rollout in progress/));
  });
});
