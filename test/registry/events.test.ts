/**
 * Registry events: typed, once per real change, with old and new values, after the change is stored.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { Change } from '../../src/domain/registry-ops.js';
import { Registry } from '../../src/registry/registry.js';
import { MemoryStore } from '../../src/state/memory-store.js';

const stdio = { type: 'stdio' as const, command: 'node', args: [], env: {} };

function recorded(): { registry: Registry; store: MemoryStore; events: Change[] } {
  const store = new MemoryStore();
  let now = 1000;
  const registry = new Registry(store, () => now++);
  const events: Change[] = [];
  for (const type of ['server:registered', 'server:status-changed', 'server:traffic-changed', 'server:rollback', 'server:health-changed', 'server:version-removed'] as const) {
    registry.on(type, (e: Change) => events.push(e));
  }
  return { registry, store, events };
}

describe('registry events', () => {
  it('emit once per real change, in order, with old and new values', async () => {
    const { registry, events } = recorded();
    await registry.deploy('w', { version: '1.0.0', transport: stdio });
    await registry.deploy('w', { version: '2.0.0', transport: stdio, traffic: 20 });
    await registry.setTraffic('w', '2.0.0', 20); // no change: no event
    await registry.rollback('w', '2.0.0', 'bad');
    await registry.setHealth('w', '1.0.0', 'healthy');
    await registry.setHealth('w', '1.0.0', 'healthy'); // no change
    assert.deepEqual(events.map((e) => e.type), [
      'server:registered',
      'server:registered', 'server:traffic-changed',
      'server:rollback', 'server:traffic-changed', 'server:status-changed', 'server:traffic-changed',
      'server:health-changed',
    ]);
    assert.deepEqual(events[2], { type: 'server:traffic-changed', server: 'w', version: '1.0.0', oldPercentage: 100, newPercentage: 80 });
    assert.deepEqual(events[3], { type: 'server:rollback', server: 'w', fromVersion: '2.0.0', toVersion: '1.0.0', reason: 'bad', timestamp: 1003 });
    assert.deepEqual(events[5], { type: 'server:status-changed', server: 'w', version: '2.0.0', oldStatus: 'green', newStatus: 'inactive', reason: 'bad' });
  });

  it('a refused change emits nothing and stores nothing', async () => {
    const { registry, store, events } = recorded();
    await registry.deploy('w', { version: '1.0.0', transport: stdio });
    events.length = 0;
    const logBefore = store.log.length;
    await assert.rejects(registry.setTraffic('w', '1.0.0', 50), /no green version/);
    await assert.rejects(registry.promote('x', '1.0.0'), /unknown server "x" \(registered: w\)/);
    assert.deepEqual(events, []);
    assert.equal(store.log.length, logBefore);
  });

  it('history of a version includes the rollbacks that name it', async () => {
    const { registry } = recorded();
    await registry.deploy('w', { version: '1.0.0', transport: stdio });
    await registry.deploy('w', { version: '2.0.0', transport: stdio, traffic: 50 });
    await registry.rollback('w', '2.0.0', 'bad');
    const { entries } = await registry.history('w', '1.0.0');
    assert.deepEqual(entries.map((e) => e.kind), ['registered', 'traffic', 'rollback', 'traffic']);
  });
});
