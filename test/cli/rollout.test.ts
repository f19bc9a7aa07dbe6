/**
 * Rollouts driven by real CLI processes against the example server: a foreground `mcp-deploy --strategy`
 * answered from other processes (promote --full, abort), and `status --wait` for CI.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { BIN_DIR, runCli, type CliResult } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const WEATHER = fileURLToPath(new URL('../../../examples/weather-server.mjs', import.meta.url));

describe('rollouts from the CLI', () => {
  let p: TempProject;
  before(async () => {
    p = await tempProject();
    const r = await run('deploy', 'weather', '1.0.0', ...weather('v1'));
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
  after(() => p.cleanup());

  function run(...args: string[]): Promise<CliResult> {
    return runCli('rollout', args, { cwd: p.dir, env: p.env });
  }
  function weather(variant: string): string[] {
    return ['--type', 'stdio', '--command', process.execPath, '--args', WEATHER, variant];
  }
  /** Starts a long-running command; resolves its output when it exits. */
  function background(...args: string[]): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(BIN_DIR, 'mcp-rollout.js'), ...args], { cwd: p.dir, env: p.env });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T }));
    });
  }
  async function until(what: string, test: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (await test()) return;
      await sleep(100);
    }
    throw new Error(`gave up waiting for ${what}`);
  }
  const rolloutPhase = async (): Promise<string | undefined> =>
    (await run('status', 'weather', '--json')).json<{ servers: { rollout: { status: { phase: string } } | null }[] }>().servers[0]!.rollout?.status.phase;

  it('a canary with no router telemetry pauses (never rolls back), and promote --full finishes it', async () => {
    const deploying = background('deploy', 'weather', '2.0.0', ...weather('v2'), '--strategy', 'canary', '--steps', '25,100', '--interval', '1s');
    await until('the rollout to pause', async () => (await rolloutPhase()) === 'Paused');
    const shown = await run('status', 'weather');
    assert.match(shown.stdout, /rollout: canary of 2\.0\.0 {2}Paused {2}step 1\/2: paused, analysis inconclusive: only 0 requests, 20 needed to judge the error rate/);
    assert.match(shown.stdout, /desired 25% of new sessions to 2\.0\.0; registry now 25%/);
    const promote = await run('promote', 'weather', '--full');
    assert.equal(promote.code, 0, promote.stderr);
    const done = await deploying;
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.match(done.stdout, /weight-set\s+step 1\/2: 25% to 2\.0\.0, observing/);
    assert.match(done.stdout, /promoted\s+2\.0\.0 promoted to blue \(promoted by request \(--full\)\)/);
    assert.match(done.stdout, /Healthy: 2\.0\.0 promoted/);
    const s = (await run('status', 'weather', '--json')).json<{ servers: { versions: { version: string; status: string; trafficPercentage: number }[] }[] }>();
    assert.deepEqual(s.servers[0]!.versions.map((v) => `${v.version} ${v.status} ${v.trafficPercentage}`), ['1.0.0 inactive 0', '2.0.0 blue 100']);
  });

  it('abort rolls the candidate back with the reason; status --wait exits 1 for CI', async () => {
    const deploying = background('deploy', 'weather', '2.1.0', ...weather('v2'), '--strategy', 'bluegreen', '--bake', '10m');
    await until('the switch', async () => (await rolloutPhase()) === 'Progressing');
    const waiting = background('status', 'weather', '--wait', '--timeout', '60s');
    const abort = await run('abort', 'weather', '--reason', 'dashboards look wrong');
    assert.equal(abort.code, 0, abort.stderr);
    const [done, waited] = await Promise.all([deploying, waiting]);
    assert.equal(done.code, 1, done.stdout);
    assert.match(done.stdout, /Degraded: rolled back: aborted: dashboards look wrong/);
    assert.equal(waited.code, 1);
    assert.match(waited.stdout, /Degraded: rolled back: aborted: dashboards look wrong/);
    const h = await run('history', 'weather', '2.1.0');
    assert.match(h.stdout, /rolled back 2\.1\.0 -> 2\.0\.0: aborted: dashboards look wrong/);
  });

  it('commands for a rollout that is not running say so', async () => {
    const r = await run('abort', 'weather');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /server "weather" has no rollout in progress \(the last one ended Degraded: rolled back: aborted: dashboards look wrong\)/);
    const bad = await run('deploy', 'weather', '3.0.0', ...weather('v2'), '--strategy', 'canary', '--steps', '10,abc');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--steps: step "abc" must be a percentage from 1 to 100 or "pause"/);
    const mixed = await run('deploy', 'weather', '3.0.0', ...weather('v2'), '--strategy', 'canary', '--traffic', '5');
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /do not combine it with --blue or --traffic/);
  });
});
