/**
 * Given a running `mcp-rollout serve`, when a canary is started with --detach, then the router drives it:
 * with no traffic it pauses, and a person's promote --full (from another process) finishes it.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/everything-http.js';
import { BIN_DIR, runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const WEATHER = fileURLToPath(new URL('../../../examples/weather-server.mjs', import.meta.url));

describe('a detached rollout driven by the router', () => {
  let p: TempProject;
  const children: ChildProcess[] = [];
  const urls: string[] = [];
  const started = (args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> =>
    new Promise((resolve, reject) => {
      const c = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(c);
      c.stdout!.once('data', () => resolve(c));
      c.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
    });
  before(async () => {
    p = await tempProject();
    for (const v of ['v1', 'v2']) {
      const port = await freePort();
      await started([WEATHER, v, '--http', String(port)], p.dir, p.env);
      urls.push(`http://127.0.0.1:${port}/mcp`);
    }
    const ok = await runCli('deploy', ['weather', '1.0.0', '--type', 'http', '--url', urls[0]!, '--max-avg-latency', '100ms'], { cwd: p.dir, env: p.env });
    assert.equal(ok.code, 0, ok.stdout);
    await started([join(BIN_DIR, 'mcp-rollout.js'), 'serve', '--port', String(await freePort())], p.dir, p.env);
  });
  after(async () => {
    for (const c of children) c.kill('SIGTERM');
    await p.cleanup();
  });

  it('pauses for lack of traffic, then promote --full reaches the router and it promotes', async () => {
    const d = await runCli('deploy', ['weather', '2.0.0', '--type', 'http', '--url', urls[1]!, '--max-avg-latency', '100ms', '--strategy', 'canary', '--steps', '50,100', '--interval', '1s', '--detach'], { cwd: p.dir, env: p.env });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /canary rollout of weather@2\.0\.0 started \(step 1\/2: 50% to 2\.0\.0, observing\); the running router \(http:\/\/127\.0\.0\.1:\d+\) drives it/);
    let phase = '';
    for (let i = 0; i < 100 && phase !== 'Paused'; i++) {
      await sleep(100);
      phase = (await runCli('status', ['weather', '--json'], { cwd: p.dir, env: p.env })).json<{ servers: { rollout: { status: { phase: string } } }[] }>().servers[0]!.rollout.status.phase;
    }
    assert.equal(phase, 'Paused', 'the router analysed the step and paused for lack of traffic');
    const promote = await runCli('promote', ['weather', '--full'], { cwd: p.dir, env: p.env });
    assert.equal(promote.code, 0, promote.stderr);
    const waited = await runCli('status', ['weather', '--wait', '--timeout', '30s'], { cwd: p.dir, env: p.env });
    assert.equal(waited.code, 0, waited.stdout);
    assert.match(waited.stdout, /Healthy: 2\.0\.0 promoted \(promoted by request \(--full\)\)/);
  });
});
