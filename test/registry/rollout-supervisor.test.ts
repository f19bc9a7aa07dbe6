/**
 * A rollout whose runner died is picked up by a supervisor (as `mcp-rollout serve` runs one) and driven to
 * its end from its saved status; one with a live runner is left alone.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_THRESHOLDS } from '../../src/domain/analysis.js';
import { parseSteps, start, type RolloutSpec } from '../../src/domain/rollout-controller.js';
import { superviseRollouts } from '../../src/pipeline/rollout-supervisor.js';
import { LiveView } from '../../src/registry/live-view.js';
import { Registry } from '../../src/registry/registry.js';
import { MemoryStore } from '../../src/state/memory-store.js';

const stdio = { type: 'stdio' as const, command: 'node', args: [], env: {} };

describe('rollout supervisor', () => {
  it('drives an orphaned rollout from where it was to its end', async () => {
    const registry = new Registry(new MemoryStore());
    await registry.deploy('w', { version: '1.0.0', transport: stdio });
    await registry.deploy('w', { version: '2.0.0', transport: stdio });
    const spec: RolloutSpec = { server: 'w', version: '2.0.0', strategy: 'canary', steps: parseSteps('30,100'), intervalMs: 200, failureLimit: 1, thresholds: { ...DEFAULT_THRESHOLDS, minRequests: 1 } };
    // A runner started it (30% applied), then died.
    const t = start(spec, registry.now());
    await registry.setTraffic('w', '2.0.0', 30);
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
    await registry.saveRollout('w', { spec, status: t.status, driver: { pid: dead, host: hostname() } }, t.events);

    const view = new LiveView(registry.store, 50);
    await view.start();
    const events: string[] = [];
    const stop = new AbortController();
    const halt = superviseRollouts(
      view,
      { registry, telemetry: { window: async () => ({ requests: 50, errors: 0, toolCalls: 0, toolErrors: 0, crashes: 0 }) }, tickMs: 50, sleep: (ms) => sleep(ms), signal: stop.signal },
      (server, e) => events.push(`${server} ${e.type}`),
      100,
    );
    for (let i = 0; i < 100 && (await registry.get('w')).server.rollout!.status.phase !== 'Healthy'; i++) await sleep(50);
    halt();
    stop.abort();
    view.stop();
    const { server } = await registry.get('w');
    assert.equal(server.rollout!.status.phase, 'Healthy');
    assert.deepEqual(server.versions.map((v) => `${v.version} ${v.status} ${v.trafficPercentage}`), ['1.0.0 inactive 0', '2.0.0 blue 100']);
    assert.deepEqual(events, ['w analysis', 'w weight-set', 'w analysis', 'w promoted', 'w ended']);
    assert.equal(server.rollout!.driver?.pid, process.pid);
  });
});
