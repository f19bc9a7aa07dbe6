/**
 * The rollout runner over a real registry (memory store), a fake clock and scripted telemetry: what it does
 * to the registry, in order, and that a second runner resumes a saved rollout.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DEFAULT_THRESHOLDS, type VersionWindow } from '../../src/domain/analysis.js';
import { parseSteps, type RolloutSpec } from '../../src/domain/rollout-controller.js';
import { beginRollout, resumeRollout, type RunnerDeps, type TelemetrySource } from '../../src/pipeline/rollout-runner.js';
import { Registry } from '../../src/registry/registry.js';
import { MemoryStore } from '../../src/state/memory-store.js';

const stdio = { type: 'stdio' as const, command: 'node', args: [], env: {} };
const healthy: VersionWindow = { requests: 100, errors: 1, toolCalls: 40, toolErrors: 0, crashes: 0, p99Ms: 4 };
const failing: VersionWindow = { requests: 212, errors: 66, toolCalls: 0, toolErrors: 0, crashes: 0 };

async function setup(candidate: VersionWindow) {
  let clock = 1_000_000;
  const registry = new Registry(new MemoryStore(), () => clock);
  await registry.deploy('w', { version: '1.0.0', transport: stdio });
  await registry.deploy('w', { version: '2.0.0', transport: stdio });
  const telemetry: TelemetrySource = { window: async (_s, v) => (v === '2.0.0' ? candidate : healthy) };
  const events: string[] = [];
  const hooks: ((t: number) => Promise<void>)[] = [];
  const deps: RunnerDeps = {
    registry,
    telemetry,
    tickMs: 1000,
    sleep: async (ms) => {
      clock += ms;
      for (const h of hooks) await h(clock);
    },
    onEvent: (e) => events.push(`${(e.at - 1_000_000) / 1000}s ${e.type}`),
  };
  const spec: RolloutSpec = { server: 'w', version: '2.0.0', strategy: 'canary', steps: parseSteps('20,100'), intervalMs: 3000, failureLimit: 1, thresholds: DEFAULT_THRESHOLDS };
  const split = async () => (await registry.get('w')).server.versions.map((v) => `${v.version} ${v.status} ${v.trafficPercentage}`);
  return { registry, deps, spec, events, hooks, split };
}

describe('rollout runner', () => {
  it('a healthy canary is walked through its steps and promoted; the registry moves with it', async () => {
    const { deps, spec, events, split, registry } = await setup(healthy);
    const seen: string[][] = [];
    const status = await beginRollout({ ...deps, onEvent: (e) => { events.push(e.type); } , sleep: async (ms) => { await deps.sleep(ms); seen.push(await split()); } }, spec);
    assert.equal(status.phase, 'Healthy');
    assert.deepEqual(await split(), ['1.0.0 inactive 0', '2.0.0 blue 100']);
    assert.ok(seen.some((s) => s.join() === '1.0.0 blue 80,2.0.0 green 20'), 'the 20% step was applied');
    assert.ok(seen.some((s) => s.join() === '1.0.0 blue 0,2.0.0 green 100'), 'the 100% step was applied');
    const saved = (await registry.get('w')).server.rollout!;
    assert.equal(saved.status.phase, 'Healthy');
    assert.deepEqual(saved.events.map((e) => e.type), ['started', 'weight-set', 'analysis', 'weight-set', 'analysis', 'promoted', 'ended']);
  });

  it('a failing canary is rolled back at the first tick with the figures recorded', async () => {
    const { deps, spec, split, registry } = await setup(failing);
    const status = await beginRollout(deps, spec);
    assert.equal(status.phase, 'Degraded');
    assert.deepEqual(await split(), ['1.0.0 blue 100', '2.0.0 inactive 0']);
    const { server } = await registry.get('w');
    assert.deepEqual(server.mcpVersionHistory.lastRollback, { fromVersion: '2.0.0', toVersion: '1.0.0', timestamp: 1_000_000, reason: 'error rate 31.1% > 10% over 212 requests' });
  });

  it('a command from another process (abort) is acted on at the next tick', async () => {
    const { deps, spec, hooks, registry, split } = await setup(healthy);
    hooks.push(async (t) => {
      if (t === 1_001_000) await registry.commandRollout('w', { type: 'abort', reason: 'looks wrong' });
    });
    const status = await beginRollout(deps, spec);
    assert.equal(status.phase, 'Degraded');
    assert.equal(status.message, 'rolled back: aborted: looks wrong');
    assert.deepEqual(await split(), ['1.0.0 blue 100', '2.0.0 inactive 0']);
  });

  it('a stopped runner leaves the rollout saved; another resumes it where it was', async () => {
    const { deps, spec, registry } = await setup(healthy);
    const stop = new AbortController();
    const first = await beginRollout({ ...deps, signal: stop.signal, sleep: async (ms) => { await deps.sleep(ms); stop.abort(); } }, spec);
    assert.equal(first.phase, 'Progressing');
    assert.equal((await registry.get('w')).server.rollout!.status.stepIndex, 0);
    const done = await resumeRollout(deps, 'w');
    assert.equal(done.phase, 'Healthy');
  });

  it('a second rollout is refused while one is driven by a live process', async () => {
    const { deps, spec, registry } = await setup(healthy);
    const stop = new AbortController();
    stop.abort();
    await beginRollout({ ...deps, signal: stop.signal }, spec); // saved with this (live) process as its driver
    await assert.rejects(beginRollout(deps, spec), /already has a rollout in progress/);
    await assert.rejects(registry.commandRollout('x', { type: 'resume' }), /unknown server "x"/);
  });
});
