/**
 * A rollout command is never lost: abort, promote and resume given while no runner drives the rollout (its
 * foreground `mcp-deploy --strategy` stopped with Ctrl-C) are carried out by the command itself, a pending
 * abort survives a later resume, and a command for a live runner is still left to it. Real CLI processes
 * against the example server; every child is waited for.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { BIN_DIR, runCli, type CliResult } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const WEATHER = fileURLToPath(new URL('../../../examples/weather-server.mjs', import.meta.url));

interface Rollout {
  status: { phase: string; stepIndex: number; message: string };
  command?: { type: string };
  driver?: { pid: number; host: string };
}
interface Shown {
  servers: { versions: { version: string; status: string; trafficPercentage: number }[]; rollout: Rollout | null }[];
}

describe('rollout commands with no live runner', () => {
  let p: TempProject;
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    p = await tempProject();
    const r = await run('deploy', 'weather', '1.0.0', ...weather('v1'));
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const exited = once(c, 'exit');
      c.kill('SIGKILL');
      await exited;
    }
    await p.cleanup();
  });

  function run(...args: string[]): Promise<CliResult> {
    return runCli('rollout', args, { cwd: p.dir, env: p.env });
  }
  function weather(variant: string): string[] {
    return ['--type', 'stdio', '--command', process.execPath, '--args', WEATHER, variant];
  }
  /** A foreground rollout: its process, its output so far, and its exit code once it exits. */
  function foreground(...args: string[]) {
    const child = spawn(process.execPath, [join(BIN_DIR, 'mcp-rollout.js'), 'deploy', ...args], { cwd: p.dir, env: p.env });
    children.push(child);
    const out = { stdout: '' };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
    child.stderr.resume();
    const exited = once(child, 'exit').then(([code]) => code as number | null);
    /** Resolves once the runner printed a line matching `pattern` (its rollout is saved by then). */
    const printed = async (pattern: RegExp): Promise<void> => {
      while (!pattern.test(out.stdout)) {
        if (child.exitCode !== null) throw new Error(`the rollout exited ${child.exitCode} before printing ${pattern}: ${out.stdout}`);
        await once(child.stdout, 'data');
      }
    };
    return { child, out, exited, printed };
  }
  /** Starts a canary of 2.0.0 in the foreground and stops its runner with Ctrl-C once the first step is set. */
  async function orphanedCanary(steps = '25,50'): Promise<void> {
    const deploying = foreground('weather', '2.0.0', ...weather('v2'), '--strategy', 'canary', '--steps', steps, '--interval', '1s');
    await deploying.printed(/weight-set\s+step 1\/2: 25% to 2\.0\.0/);
    deploying.child.kill('SIGINT');
    assert.equal(await deploying.exited, 130, deploying.out.stdout);
  }
  const shown = async () => (await run('status', 'weather', '--json')).json<Shown>().servers[0]!;
  const split = async () => (await shown()).versions.map((v) => `${v.version} ${v.status} ${v.trafficPercentage}`);

  it('abort after the runner was stopped with Ctrl-C rolls the candidate back at once, with the reason in its history', async () => {
    await orphanedCanary();
    assert.deepEqual(await split(), ['1.0.0 blue 75', '2.0.0 green 25']);
    const abort = await run('abort', 'weather', '--reason', 'dashboards look wrong');
    assert.equal(abort.code, 0, abort.stderr);
    // Done when the command returned: no runner to wait for.
    assert.deepEqual(await split(), ['1.0.0 blue 100', '2.0.0 inactive 0']);
    assert.match(abort.stdout, /abort requested for the rollout of weather@2\.0\.0: rolled back: aborted: dashboards look wrong \(done by this command: no runner was driving the rollout\)/);
    assert.doesNotMatch(abort.stdout, /within a second|pending request/);
    const s = await shown();
    assert.equal(s.rollout!.status.phase, 'Degraded');
    assert.equal(s.rollout!.command, undefined);
    const h = await run('history', 'weather', '2.0.0');
    assert.match(h.stdout, /rolled back 2\.0\.0 -> 1\.0\.0: aborted: dashboards look wrong/);
    // And a later resume --wait finds nothing to carry on.
    const resumed = await run('resume', 'weather', '--wait');
    assert.equal(resumed.code, 1, resumed.stdout + resumed.stderr);
    assert.match(resumed.stdout, /Degraded: rolled back: aborted: dashboards look wrong/);
  });

  it('promote with no runner goes past the current step (the next weight set), and promote --full promotes', async () => {
    await orphanedCanary();
    const step = await run('promote', 'weather');
    assert.equal(step.code, 0, step.stderr);
    assert.match(step.stdout, /promote requested for the rollout of weather@2\.0\.0: step 2\/2: 50% to 2\.0\.0, observing \(done by this command/);
    assert.deepEqual(await split(), ['1.0.0 blue 50', '2.0.0 green 50']);
    assert.equal((await shown()).rollout!.status.stepIndex, 1);
    const full = await run('promote', 'weather', '--full');
    assert.equal(full.code, 0, full.stderr);
    assert.match(full.stdout, /2\.0\.0 promoted \(promoted by request \(--full\)\) \(done by this command/);
    assert.deepEqual(await split(), ['1.0.0 inactive 0', '2.0.0 blue 100']);
    assert.equal((await shown()).rollout!.status.phase, 'Healthy');
  });

  it('a pending abort left for a runner that died is not discarded by a later resume: the abort wins', async () => {
    // Paused for lack of data (no router), then stopped: resume applies to it.
    const deploying = foreground('weather', '2.0.0', ...weather('v2'), '--strategy', 'canary', '--steps', '25,50', '--interval', '1s');
    await deploying.printed(/paused\s+step 1\/2: paused, analysis inconclusive/);
    deploying.child.kill('SIGINT');
    assert.equal(await deploying.exited, 130);
    // An abort handed to that runner just before it stopped (as `abort` did before this change, with no runner
    // at all): pending, with the dead runner still recorded as the driver.
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.commandRollout('weather', { type: 'abort', reason: 'dashboards look wrong' });
    const before = await shown();
    assert.equal(before.rollout!.status.phase, 'Paused');
    assert.deepEqual(before.rollout!.command, { type: 'abort', reason: 'dashboards look wrong' });

    // (`resume` first: before this change it replaced the abort, and `resume --wait` then drove the rollout on
    // with nothing to end it, so this order fails instead of hanging.)
    const resumed = await run('resume', 'weather');
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.deepEqual(await split(), ['1.0.0 blue 100', '2.0.0 inactive 0']);
    assert.match(resumed.stdout, /abort is already pending for the rollout of weather@2\.0\.0 and wins over resume: rolled back: aborted: dashboards look wrong \(done by this command/);
    const h = await run('history', 'weather', '2.0.0');
    assert.match(h.stdout, /rolled back 2\.0\.0 -> 1\.0\.0: aborted: dashboards look wrong/);
    const waited = await run('resume', 'weather', '--wait');
    assert.equal(waited.code, 1, waited.stdout + waited.stderr);
    assert.match(waited.stdout, /^Degraded: rolled back: aborted: dashboards look wrong$/m);
  });

  it('a command while a live runner holds the rollout is left to that runner, and the message names it', async () => {
    const deploying = foreground('weather', '2.0.0', ...weather('v2'), '--strategy', 'bluegreen', '--bake', '10m');
    await deploying.printed(/weight-set\s+step 1\/1: 100% to 2\.0\.0/);
    const abort = await run('abort', 'weather', '--reason', 'dashboards look wrong');
    assert.equal(abort.code, 0, abort.stderr);
    const runner = `pid ${deploying.child.pid} on host ${hostname()}`;
    assert.ok(abort.stdout.includes(`abort requested for the rollout of weather@2.0.0; the runner (${runner}) will act within a second`), abort.stdout);
    assert.doesNotMatch(abort.stdout, /done by this command/);
    // The runner, not the command, rolls it back.
    assert.equal(await deploying.exited, 1, deploying.out.stdout);
    assert.match(deploying.out.stdout, /Degraded: rolled back: aborted: dashboards look wrong/);
    assert.deepEqual(await split(), ['1.0.0 blue 100', '2.0.0 inactive 0']);
  });
});
