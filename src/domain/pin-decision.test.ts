import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decidePin, type Observed, type Pin, type PinPolicy } from './pin-decision.js';
import { emptyServer, type HistoryEntry, type ServerState, type Status } from './types.js';

const version = (v: string, status: Status, trafficPercentage: number) => ({ type: 'http' as const, url: 'http://x', headers: {}, version: v, status, trafficPercentage, deploymentTimestamp: 0 });
const rollback = (fromVersion: string, timestamp: number): HistoryEntry => ({ kind: 'rollback', timestamp, version: fromVersion, fromVersion, toVersion: '1.0.0', reason: 'bad' });

function server(versions: ReturnType<typeof version>[], history: HistoryEntry[] = []): ServerState {
  return { ...emptyServer('w'), versions, history };
}

const canary = server([version('1.0.0', 'blue', 90), version('2.0.0', 'green', 10)]);
const promoted = server([version('1.0.0', 'inactive', 0), version('2.0.0', 'blue', 100)]);
const rolledBackAt500 = server([version('1.0.0', 'blue', 100), version('2.0.0', 'inactive', 0)], [rollback('2.0.0', 500)]);
const greenAgainAfterRollback = server([version('1.0.0', 'blue', 90), version('2.0.0', 'green', 10)], [rollback('2.0.0', 500)]);
/** 2.0.0 rolled back at 500, given traffic again at 600, then 3.0.0 promoted over it at 700. */
const reactivatedThenPromotedAway = server([version('1.0.0', 'inactive', 0), version('2.0.0', 'inactive', 0), version('3.0.0', 'blue', 100)], [
  rollback('2.0.0', 500),
  { kind: 'status', timestamp: 600, version: '2.0.0', from: 'inactive', to: 'green' },
  { kind: 'traffic', timestamp: 600, version: '2.0.0', from: 0, to: 10 },
  { kind: 'status', timestamp: 700, version: '2.0.0', from: 'green', to: 'inactive' },
]);
const drain: PinPolicy = { onPromote: 'drain' };
const move: PinPolicy = { onPromote: 'move' };

describe('decidePin', () => {
  const rows: [string, ServerState | undefined, Pin, PinPolicy, Observed, string][] = [
    ['a healthy pin stays', canary, { server: 'w', version: '2.0.0', pinnedAt: 100 }, drain, {}, 'stay'],
    ['server removed: end', undefined, { server: 'w', version: '2.0.0', pinnedAt: 100 }, drain, {}, 'end ServerRemoved server "w" was removed'],
    ['version removed: move', server([version('1.0.0', 'blue', 100)]), { server: 'w', version: '2.0.0', pinnedAt: 100 }, drain, {}, 'move VersionRemoved version 2.0.0 of "w" was removed'],
    ['rolled back after pinning: move', rolledBackAt500, { server: 'w', version: '2.0.0', pinnedAt: 100 }, drain, {}, 'move VersionRolledBack version 2.0.0 of "w" was rolled back'],
    ['rolled back at the very ms of pinning: move', rolledBackAt500, { server: 'w', version: '2.0.0', pinnedAt: 500 }, drain, {}, 'move VersionRolledBack version 2.0.0 of "w" was rolled back'],
    ['rolled back before pinning, green again by a later deploy: stay', greenAgainAfterRollback, { server: 'w', version: '2.0.0', pinnedAt: 600 }, drain, {}, 'stay'],
    // Pinned after the rollback by a router or proxy whose view had not seen it yet (or whose clock runs a little
    // ahead): the version has been inactive since, so its session must not stay there for good.
    ['pinned after the rollback, the version inactive since: move', rolledBackAt500, { server: 'w', version: '2.0.0', pinnedAt: 600 }, drain, {}, 'move VersionRolledBack version 2.0.0 of "w" was rolled back'],
    ['rolled back, green again, then promoted away: a session pinned while it was green stays (drain)', reactivatedThenPromotedAway, { server: 'w', version: '2.0.0', pinnedAt: 650 }, drain, {}, 'stay'],
    ['rolled back, green again, then promoted away: a session pinned before the rollback moves', reactivatedThenPromotedAway, { server: 'w', version: '2.0.0', pinnedAt: 400 }, drain, {}, 'move VersionRolledBack version 2.0.0 of "w" was rolled back'],
    ['promoted away, drain: stay', promoted, { server: 'w', version: '1.0.0', pinnedAt: 100 }, drain, {}, 'stay'],
    ['promoted away, move: move', promoted, { server: 'w', version: '1.0.0', pinnedAt: 100 }, move, {}, 'move PromotedAway version 1.0.0 of "w" is inactive: another version was promoted (--on-promote move)'],
    ['backend died: move, with the front\'s text', canary, { server: 'w', version: '2.0.0', pinnedAt: 100 }, drain, { backendDied: 'server "w" version 2.0.0 exited with code 1' }, 'move BackendDied server "w" version 2.0.0 exited with code 1'],
    ['backend session gone: move', canary, { server: 'w', version: '2.0.0', pinnedAt: 100 }, drain, { backendSessionGone: true }, 'move BackendSessionGone server "w" version 2.0.0 no longer knows the session (its backend restarted)'],
    ['rolled back and died: the registry\'s reason wins', rolledBackAt500, { server: 'w', version: '2.0.0', pinnedAt: 100 }, drain, { backendDied: 'x' }, 'move VersionRolledBack version 2.0.0 of "w" was rolled back'],
    ['idle past the timeout: end', canary, { server: 'w', version: '2.0.0', pinnedAt: 0, lastUsed: 999 }, { onPromote: 'drain', idleTimeoutMs: 2000 }, {}, 'end IdleTimeout the session was unused for 2 s (--idle-timeout)'],
    ['idle exactly the timeout: stay', canary, { server: 'w', version: '2.0.0', pinnedAt: 0, lastUsed: 1000 }, { onPromote: 'drain', idleTimeoutMs: 2000 }, {}, 'stay'],
  ];
  for (const [name, s, pin, policy, observed, want] of rows) {
    it(name, () => {
      const d = decidePin(s, pin, 3000, policy, observed);
      assert.equal(d.action === 'stay' ? 'stay' : `${d.action} ${d.reason} ${d.why}`, want);
    });
  }
});

describe('the rollback a pin is judged against', () => {
  it('is the latest rollback away from the version, whatever the order of the history', () => {
    // 2.0.0 green again: only a rollback at or after the pin (600) moves it; the latest one (900) is.
    const s = server([version('1.0.0', 'blue', 90), version('2.0.0', 'green', 10)], [rollback('2.0.0', 900), rollback('2.0.0', 300), rollback('3.0.0', 1000)]);
    assert.equal(decidePin(s, { server: 'w', version: '2.0.0', pinnedAt: 600 }, 0, drain).action, 'move');
    assert.equal(decidePin(s, { server: 'w', version: '1.0.0', pinnedAt: 600 }, 0, drain).action, 'stay', "another version's rollback is not 1.0.0's");
  });
});
