/**
 * Blue/green rollouts of managed versions under client load through `mcp-rollout serve`, with real processes:
 * a green that keeps 2 MB per call is rolled back by the resource analysis with the figures in its history,
 * a healthy green (the same server without the leak) is promoted with every phase printed by deploy as it
 * happens, no request fails during it, and the old blue's and the rolled-back green's servers are stopped once
 * the rollback window has passed. A foreground rollout of a managed version with no router running is refused.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort } from '../helpers/everything-http.js';
import { pidsWith, waitGone } from '../helpers/processes.js';
import { runCli } from '../helpers/run-cli.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const LEAKY = fileURLToPath(new URL('../../../test/fixtures/servers/leaky-http-server.mjs', import.meta.url));


/** Clients in `workers` loops, each opening a session, calling echo three times and closing, until stopped. */
function clientLoad(port: number, workers: number) {
  let stopped = false;
  const tally = { ok: 0, failed: [] as string[] };
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const client = new Client({ name: 'load', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/leaky`));
      try {
        await client.connect(transport);
        for (let i = 0; i < 3 && !stopped; i++) {
          const r = await client.callTool({ name: 'echo', arguments: { text: 'x' } });
          if (r.isError) tally.failed.push(JSON.stringify(r.content));
          else tally.ok++;
        }
      } catch (e) {
        tally.failed.push((e as Error).message);
      } finally {
        // Ended with DELETE, as a client that is done does: the router then has no session left on the version.
        await transport.terminateSession().catch(() => undefined);
        await client.close().catch(() => undefined);
      }
    }
  };
  const loops = Array.from({ length: workers }, loop);
  return { tally, stop: async () => ((stopped = true), await Promise.all(loops)) };
}

const deployArgs = (version: string, token: string, extra: string[]): string[] =>
  ['leaky', version, '--type', 'http', '--command', process.execPath, '--port', 'auto', ...extra, '--', LEAKY, '--port', '{port}', token];

describe('blue/green rollouts of managed versions', () => {
  let p: TempProject;
  let serve: ServeProcess | undefined;
  const tokens = { blue: `blue-${randomUUID()}`, leaky: `leak-${randomUUID()}`, healthy: `ok-${randomUUID()}` };
  before(async () => {
    p = await tempProject();
  });
  after(async () => {
    await serve?.stop();
    for (const pid of Object.values(tokens).flatMap(pidsWith)) process.kill(pid, 'SIGKILL');
    await p.cleanup();
  });

  it('refuses a foreground rollout of a managed version when no router runs, before registering it', async () => {
    const d = await runCli('deploy', deployArgs('0.9.0', tokens.blue, ['--skip-validation', '--strategy', 'bluegreen']), { cwd: p.dir, env: p.env });
    assert.equal(d.code, 1, d.stdout + d.stderr);
    assert.match(d.stderr, /managed versions roll out under mcp-rollout serve: start it, then deploy with --detach/);
    const s = await runCli('status', ['--json'], { cwd: p.dir, env: p.env });
    assert.deepEqual(s.json<{ servers: unknown[] }>().servers, []);
  });

  it('rolls back a leaking green by resource analysis, promotes a healthy one with its phases printed, and stops the old servers after the window', async () => {
    const blue = await runCli('deploy', deployArgs('1.0.0', tokens.blue, ['--skip-validation', '--env', 'TAG=blue']), { cwd: p.dir, env: p.env });
    assert.equal(blue.code, 0, blue.stderr);
    const port = await freePort();
    serve = await startServe(port, { cwd: p.dir, env: p.env }, ['--rollback-window', '1s']);
    const [bluePid] = pidsWith(tokens.blue);
    assert.ok(bluePid !== undefined, 'serve started the blue');

    const load = clientLoad(port, 3);
    try {
      // The leaking green: 2 MB kept per call.
      const leak = await runCli('deploy', deployArgs('1.1.0', tokens.leaky, ['--env', 'LEAK_MB=2', '--env', 'TAG=leaky', '--strategy', 'bluegreen', '--bake', '10s']), { cwd: p.dir, env: p.env });
      assert.equal(leak.code, 1, leak.stdout + leak.stderr);
      assert.match(leak.stdout, /rolled back: resident memory grew \d+ MB in [\d.]+ s, blue -?\d+ MB/);
      const history = await runCli('history', ['leaky'], { cwd: p.dir, env: p.env });
      assert.match(history.stdout, /resident memory grew \d+ MB in [\d.]+ s, blue -?\d+ MB/);

      // Only failures from here on count: the rolled-back green's sessions were ended on purpose.
      const failedBefore = load.tally.failed.length;
      const okBefore = load.tally.ok;
      const good = await runCli('deploy', deployArgs('1.2.0', tokens.healthy, ['--env', 'TAG=healthy', '--strategy', 'bluegreen', '--bake', '8s']), { cwd: p.dir, env: p.env });
      assert.equal(good.code, 0, good.stdout + good.stderr);
      // The phases in the order they happened: validated, green started (pid, port) and ready, traffic switched, promoted.
      const order = [/validated +1\.2\.0 passed validation/, /process +green 1\.2\.0 started by the router: pid \d+, port \d+, ready/, /weight-set +step 1\/1: 100% to 1\.2\.0/, /analysis +step 1\/1: analysis pass: .*resident memory grew -?\d+ MB in [\d.]+ s, blue -?\d+ MB/, /promoted +1\.2\.0 promoted to blue/];
      let at = 0;
      for (const re of order) {
        const m = re.exec(good.stdout.slice(at));
        assert.ok(m, `${re} after position ${at} in:\n${good.stdout}`);
        at += m.index + m[0].length;
      }
      assert.ok(load.tally.ok > okBefore, 'the load went on during the healthy rollout');
      assert.deepEqual(load.tally.failed.slice(failedBefore), [], 'no request failed during the healthy rollout');
    } finally {
      await load.stop();
    }

    // Old blue and rolled-back green: stopped once the window passed and their sessions drained.
    assert.equal(await waitGone(bluePid, 20_000), true, 'the old blue outlived the rollback window');
    for (const pid of pidsWith(tokens.leaky)) assert.equal(await waitGone(pid, 20_000), true, 'the rolled-back green outlived the window');
    assert.equal(pidsWith(tokens.healthy).length, 1, 'the new blue runs on');
    // status --watch shows the last phase too: the old blue's stop, in the finished rollout's events.
    // The stop is recorded just after the process is gone; the deadline only bounds a failing test.
    for (const until = Date.now() + 20_000; ; ) {
      const watch = await runCli('rollout', ['status', 'leaky', '--watch'], { cwd: p.dir, env: p.env });
      if (/process +1\.0\.0: process stopped: inactive for the rollback window and drained: stopped \(pid \d+, port \d+\)/.test(watch.stdout)) break;
      assert.ok(Date.now() < until, `no stop event of 1.0.0 in:\n${watch.stdout}`);
    }
  });
});
