/**
 * A rollout whose runner died is picked up by a supervisor (as `mcp-rollout serve` runs one) and driven to
 * its end from its saved status; one with a live runner is left alone. Two routers on one registry drive an
 * orphan once between them.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_THRESHOLDS } from '../../src/domain/analysis.js';
import { parseSteps, start, type RolloutSpec } from '../../src/domain/rollout-controller.js';
import { superviseRollouts } from '../../src/pipeline/rollout-supervisor.js';
import { LiveView } from '../../src/registry/live-view.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { tempProject } from '../helpers/temp-project.js';

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
    stop.abort();
    await halt();
    view.stop();
    const { server } = await registry.get('w');
    assert.equal(server.rollout!.status.phase, 'Healthy');
    assert.deepEqual(server.versions.map((v) => `${v.version} ${v.status} ${v.trafficPercentage}`), ['1.0.0 inactive 0', '2.0.0 blue 100']);
    assert.deepEqual(events, ['w analysis', 'w weight-set', 'w analysis', 'w promoted', 'w ended']);
    assert.equal(server.rollout!.driver?.pid, process.pid);
  });

  it('two routers on one registry: both see the orphan, one claim wins, and it is driven exactly once', { timeout: 60_000 }, async () => {
    const p = await tempProject();
    // Each router's identity is a live process of its own (two supervisors in this process cannot be told
    // apart by pid), so each sees the other as a live driver.
    const identities: ChildProcess[] = [0, 1].map(() => spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' }));
    // Each stop is awaited: a supervisor still writing (its lease, the log) into the project would race its removal.
    const stops: (() => unknown)[] = [];
    try {
      let clock = 1_000_000;
      const now = () => clock;
      // The race made certain: each router's first read of the registry (resume's look at the orphan) waits
      // for the other's, so both find the driver dead and both go for its lease: one takes it (the file lock
      // orders them) and claims; the other is refused the lease and never claims.
      const claims: string[] = [];
      let arrived = 0;
      let release!: () => void;
      const bothRead = new Promise<void>((resolve) => (release = resolve));
      class Router extends Registry {
        private first = true;
        override async get(name: string) {
          const found = await super.get(name);
          if (this.first) {
            this.first = false;
            if (++arrived === 2) release();
            await bothRead;
          }
          return found;
        }
        override async claimRollout(...args: Parameters<Registry['claimRollout']>) {
          try {
            const r = await super.claimRollout(...args);
            claims.push(`${args[1].pid} won`);
            return r;
          } catch (e) {
            claims.push(`${args[1].pid} refused: ${(e as Error).message}`);
            throw e;
          }
        }
      }
      const store = () => JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env });
      const admin = new Registry(store(), now);
      await admin.deploy('w', { version: '1.0.0', transport: stdio });
      await admin.deploy('w', { version: '2.0.0', transport: stdio });
      const spec: RolloutSpec = { server: 'w', version: '2.0.0', strategy: 'canary', steps: parseSteps('30,100'), intervalMs: 200, failureLimit: 1, thresholds: { ...DEFAULT_THRESHOLDS, minRequests: 1 } };
      const t = start(spec, now());
      await admin.setTraffic('w', '2.0.0', 30);
      const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
      await admin.saveRollout('w', { spec, status: t.status, driver: { pid: dead, host: hostname() } }, t.events);

      const events: string[] = [];
      let ended!: () => void;
      const done = new Promise<void>((resolve) => (ended = resolve));
      const stop = new AbortController();
      stops.push(() => stop.abort());
      const routers = await Promise.all(
        [0, 1].map(async (i) => {
          const registry = new Router(store(), now);
          const view = new LiveView(registry.store, 50);
          await view.start();
          stops.push(() => view.stop());
          return { registry, view, self: { pid: identities[i]!.pid!, host: hostname() } };
        }),
      );
      for (const [i, { registry, view, self }] of routers.entries()) {
        const halt = superviseRollouts(
          view,
          {
            registry,
            self,
            telemetry: { window: async () => ({ requests: 50, errors: 0, toolCalls: 0, toolErrors: 0, crashes: 0 }) },
            tickMs: 50,
            // A fake clock: the rollout's time passes by ticks, not by the wall.
            sleep: async (ms) => {
              clock += ms;
              await sleep(1);
            },
            signal: stop.signal,
          },
          (server, e) => {
            events.push(`router ${i}: ${server} ${e.type}`);
            if (e.type === 'ended') ended();
          },
          100,
        );
        stops.push(() => halt());
      }
      await done;
      const { server } = await admin.get('w');
      assert.equal(server.rollout!.status.phase, 'Healthy');
      const driver = routers.findIndex((r) => r.self.pid === server.rollout!.driver?.pid);
      const loser = routers[1 - driver]!.self;
      assert.ok(driver >= 0, 'one of the routers drives it');
      assert.deepEqual(claims, [`${routers[driver]!.self.pid} won`], `only the lease's holder claims (${loser.pid} was refused the lease)`);
      assert.deepEqual(events, ['analysis', 'weight-set', 'analysis', 'promoted', 'ended'].map((e) => `router ${driver}: w ${e}`));
      assert.deepEqual(server.rollout!.events.map((e) => e.type), ['started', 'weight-set', 'analysis', 'weight-set', 'analysis', 'promoted', 'ended']);
      const moves = server.history.filter((e) => e.kind === 'traffic' && e.version === '2.0.0').map((e) => e.kind === 'traffic' && `${e.from}->${e.to}`);
      assert.deepEqual(moves, ['0->30', '30->100']);
      const takeovers = (await readFile(p.logFile, 'utf8')).split('\n').filter((l) => l.includes('taken over from'));
      assert.equal(takeovers.length, 1, 'one takeover in the deployment log');
    } finally {
      for (const s of stops.reverse()) await s();
      for (const c of identities) {
        const exited = once(c, 'exit');
        process.kill(c.pid!);
        await exited;
      }
      await p.cleanup();
    }
  });
});
