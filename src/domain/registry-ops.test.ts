import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AppError } from '../errors.js';
import { checkServer } from './invariants.js';
import { deploy, promote, removeVersion, rollback, setHealth, setTraffic, type OpResult } from './registry-ops.js';
import type { ServerState, Transport } from './types.js';

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

describe('invariants hold under any sequence of operations', () => {
  const versions = ['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0'];
  const op = fc.oneof(
    fc.record({ k: fc.constant('deploy'), v: fc.constantFrom(...versions), t: fc.integer({ min: 0, max: 100 }), blue: fc.boolean() }),
    fc.record({ k: fc.constant('traffic'), v: fc.constantFrom(...versions), t: fc.integer({ min: 0, max: 100 }) }),
    fc.record({ k: fc.constant('promote'), v: fc.constantFrom(...versions) }),
    fc.record({ k: fc.constant('rollback'), v: fc.constantFrom(...versions) }),
    fc.record({ k: fc.constant('remove'), v: fc.constantFrom(...versions) }),
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
            else if (!s) return;
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
