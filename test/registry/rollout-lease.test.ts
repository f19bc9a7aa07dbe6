/**
 * One rollout, one driver: taking over an orphaned rollout is an atomic claim, and a runner that was taken
 * over stops without acting again. Two registries over one project directory stand for two processes (each
 * its own file store, sharing the file lock); drivers are real live child processes, so liveness is real.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_THRESHOLDS, type VersionWindow } from '../../src/domain/analysis.js';
import { parseSteps, start, type RolloutSpec } from '../../src/domain/rollout-controller.js';
import type { RolloutDriver } from '../../src/domain/types.js';
import { AppError } from '../../src/errors.js';
import { beginRollout, resumeRollout, type RunnerDeps } from '../../src/pipeline/rollout-runner.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const stdio = { type: 'stdio' as const, command: 'node', args: [], env: {} };
const healthy: VersionWindow = { requests: 100, errors: 1, toolCalls: 40, toolErrors: 0, crashes: 0, p99Ms: 4 };
const T0 = 1_000_000;

/** A process that stays alive until killed: its pid is a live driver on this host. */
function liveProcess(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
}

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
}

describe('rollout lease', () => {
  const children: ChildProcess[] = [];
  let A: RolloutDriver;
  let B: RolloutDriver;
  let C: RolloutDriver;
  let dead: RolloutDriver;

  before(() => {
    for (let i = 0; i < 3; i++) children.push(liveProcess());
    [A, B, C] = children.map((c) => ({ pid: c.pid!, host: hostname() })) as [RolloutDriver, RolloutDriver, RolloutDriver];
    dead = { pid: deadPid(), host: hostname() };
  });
  after(async () => {
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const exited = once(c, 'exit');
      process.kill(c.pid!);
      await exited;
    }
  });

  /** A project with 1.0.0 blue and 2.0.0 green, two registries on it (two "processes") and a shared fake clock. */
  async function setup(p: TempProject) {
    let clock = T0;
    const now = () => clock;
    const one = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }), now);
    const two = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }), now);
    await one.deploy('w', { version: '1.0.0', transport: stdio });
    await one.deploy('w', { version: '2.0.0', transport: stdio });
    const spec: RolloutSpec = { server: 'w', version: '2.0.0', strategy: 'canary', steps: parseSteps('20,100'), intervalMs: 1000, failureLimit: 1, thresholds: DEFAULT_THRESHOLDS };
    const hooks: ((t: number) => Promise<void>)[] = [];
    const deps = (registry: Registry, self: RolloutDriver, events: string[] = []): RunnerDeps => ({
      registry,
      self,
      telemetry: { window: async () => healthy },
      tickMs: 1000,
      sleep: async (ms) => {
        clock += ms;
        for (const h of hooks) await h(clock);
      },
      onEvent: (e) => events.push(`${(e.at - T0) / 1000}s ${e.type}`),
    });
    /** A runner started the rollout (its first step applied), then died. */
    const orphan = async () => {
      const t = start(spec, now());
      await one.setTraffic('w', '2.0.0', 20, 'canary rollout');
      await one.saveRollout('w', { spec, status: t.status, driver: dead }, t.events);
    };
    /** Everything a tick could change: the versions, the history, the rollout's events, the deployment log. */
    const snapshot = async () => {
      const { server } = await one.get('w');
      return { versions: server.versions, history: server.history, events: server.rollout!.events, log: await readFile(p.logFile, 'utf8') };
    };
    const split = async () => (await one.get('w')).server.versions.map((v) => `${v.version} ${v.status} ${v.trafficPercentage}`);
    return { one, two, spec, hooks, deps, orphan, snapshot, split, setClock: (t: number) => (clock = t) };
  }

  it('two concurrent claims of one orphaned rollout: exactly one succeeds, the other gets a conflict naming it', async () => {
    const p = await tempProject();
    try {
      const { one, two, orphan } = await setup(p);
      await orphan();
      const results = await Promise.allSettled([one.claimRollout('w', A, dead), two.claimRollout('w', B, dead)]);
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [[A, B][i]!] : []));
      const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      assert.equal(won.length, 1, 'exactly one claim succeeds');
      assert.equal(lost.length, 1);
      const winner = won[0]!;
      assert.ok(lost[0] instanceof AppError && lost[0].code === 'conflict', String(lost[0]));
      assert.equal((lost[0] as AppError).message, `the rollout of "w" is already driven by process ${winner.pid} on ${winner.host}`);
      assert.deepEqual((await one.get('w')).server.rollout!.driver, winner);
      const takeovers = (await readFile(p.logFile, 'utf8')).split('\n').filter((l) => l.includes('taken over from'));
      assert.equal(takeovers.length, 1, 'one takeover in the deployment log');
      assert.match(takeovers[0]!, new RegExp(`driven by process ${winner.pid} on .* \\(taken over from process ${dead.pid} on `));
    } finally {
      await p.cleanup();
    }
  });

  it('a claim after a live driver took over fails, at the registry and through resume', async () => {
    const p = await tempProject();
    try {
      const { one, two, orphan, deps } = await setup(p);
      await orphan();
      await one.claimRollout('w', A, dead);
      const named = (e: unknown) => e instanceof AppError && e.code === 'conflict' && e.message === `the rollout of "w" is already driven by process ${A.pid} on ${A.host}`;
      await assert.rejects(two.claimRollout('w', C, dead), named);
      await assert.rejects(two.claimRollout('w', C, undefined), named);
      await assert.rejects(resumeRollout(deps(two, C), 'w'), named);
      assert.deepEqual((await one.get('w')).server.rollout!.driver, A);
    } finally {
      await p.cleanup();
    }
  });

  it('a command left pending for a runner that died is acted on by the next runner, first thing', async () => {
    const p = await tempProject();
    try {
      const { one, two, orphan, deps, split } = await setup(p);
      await orphan();
      // Handed to the runner (as if it were still alive), which then died: the abort waits in the registry.
      await one.commandRollout('w', { type: 'abort', reason: 'looks wrong' });
      const seen: string[] = [];
      const done = await resumeRollout(deps(two, B, seen), 'w');
      assert.equal(done.message, 'rolled back: aborted: looks wrong');
      assert.deepEqual(seen, ['0s rolled-back', '0s ended']);
      assert.deepEqual(await split(), ['1.0.0 blue 100', '2.0.0 inactive 0']);
    } finally {
      await p.cleanup();
    }
  });

  it('a runner whose rollout was claimed between ticks stops: its next tick changes nothing', async () => {
    const p = await tempProject();
    try {
      const { one, two, spec, hooks, deps, snapshot } = await setup(p);
      const seen: string[] = [];
      let afterTakeover: Awaited<ReturnType<typeof snapshot>> | undefined;
      hooks.push(async (t) => {
        // B judged A dead (say, a pid it cannot see) and took over while A slept.
        if (t === T0 + 1000) {
          await two.claimRollout('w', B, A);
          afterTakeover = await snapshot();
        }
      });
      const status = await beginRollout(deps(one, A, seen), spec);
      assert.equal(status.phase, 'Progressing');
      assert.deepEqual(seen, ['0s started', '0s weight-set'], 'A emitted nothing after the takeover');
      assert.deepEqual(await snapshot(), afterTakeover, 'A changed nothing after the takeover');
      assert.deepEqual((await one.get('w')).server.rollout!.driver, B);
    } finally {
      await p.cleanup();
    }
  });

  it('a takeover between a tick\'s read and its write: the tick applies nothing; the new driver does each step once', async () => {
    const p = await tempProject();
    try {
      const { one, two, spec, deps, snapshot, split } = await setup(p);
      const seenA: string[] = [];
      let afterTakeover: Awaited<ReturnType<typeof snapshot>> | undefined;
      let claimed = false;
      const a = deps(one, A, seenA);
      // At 1s the step's analysis passes and the tick sets 100%; the claim lands after A read the registry.
      a.telemetry = {
        window: async (_s, _v, _since, now) => {
          if (now === T0 + 1000 && !claimed) {
            claimed = true;
            await two.claimRollout('w', B, A);
            afterTakeover = await snapshot();
          }
          return healthy;
        },
      };
      const status = await beginRollout(a, spec);
      assert.equal(status.phase, 'Progressing');
      assert.deepEqual(seenA, ['0s started', '0s weight-set']);
      assert.deepEqual(await snapshot(), afterTakeover);
      assert.deepEqual(await split(), ['1.0.0 blue 80', '2.0.0 green 20'], 'the 100% step was not applied by A');

      const seenB: string[] = [];
      const done = await resumeRollout(deps(two, B, seenB), 'w');
      assert.equal(done.phase, 'Healthy');
      assert.deepEqual(seenB, ['1s analysis', '1s weight-set', '2s analysis', '2s promoted', '2s ended']);
      const { server } = await one.get('w');
      assert.deepEqual(server.rollout!.events.map((e) => e.type), ['started', 'weight-set', 'analysis', 'weight-set', 'analysis', 'promoted', 'ended']);
      const moves = server.history.filter((e) => e.kind === 'traffic' && e.version === '2.0.0').map((e) => e.kind === 'traffic' && `${e.from}->${e.to}`);
      assert.deepEqual(moves, ['0->20', '20->100'], 'each weight set once');
    } finally {
      await p.cleanup();
    }
  });
});
