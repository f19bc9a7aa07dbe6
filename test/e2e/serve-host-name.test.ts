/**
 * Given the file store and `mcp-rollout serve` named with MCP_ROLLOUT_HOST (as in a container whose host name
 * collides with others'), when the router driving a detached canary is SIGKILLed, then the next `serve` of the
 * project takes the rollout over: the dead driver is recorded under the name MCP_ROLLOUT_HOST gave, and it is
 * this machine's, so its dead pid is seen here at once rather than waiting out the lease of a driver on
 * another host.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RolloutDriver } from '../../src/domain/types.js';
import { freePort } from '../helpers/everything-http.js';
import { runCli } from '../helpers/run-cli.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';
import { weatherHttp, type Weather } from '../helpers/weather-http.js';

describe('serve named with MCP_ROLLOUT_HOST on the file store', () => {
  let p: TempProject;
  const backends: Weather[] = [];
  const routers: ServeProcess[] = [];
  const env = (): NodeJS.ProcessEnv => ({ ...p.env, MCP_ROLLOUT_HOST: 'box-1' });
  before(async () => {
    p = await tempProject();
    for (const v of ['v1', 'v2']) backends.push(await weatherHttp(v));
    const blue = await runCli('deploy', ['weather', '1.0.0', '--type', 'http', '--url', backends[0]!.url, '--skip-validation'], { cwd: p.dir, env: env() });
    assert.equal(blue.code, 0, blue.stderr);
  });
  after(async () => {
    for (const r of routers) await r.stop();
    for (const b of backends) await b.stop();
    await p.cleanup();
  });

  /** The rollout's recorded driver once `ok` holds for it; fails naming `what` after 50 looks (10-20 s). */
  async function driverWhen(ok: (d: RolloutDriver | undefined) => boolean, what: string): Promise<RolloutDriver | undefined> {
    let d: RolloutDriver | undefined;
    for (let i = 0; i < 50; i++) {
      const s = await runCli('status', ['weather', '--json'], { cwd: p.dir, env: env() });
      d = s.json<{ servers: { rollout: { driver?: RolloutDriver } | null }[] }>().servers[0]!.rollout?.driver;
      if (ok(d)) return d;
      await sleep(200);
    }
    assert.fail(`${what}: the driver is still ${JSON.stringify(d)}`);
  }

  it('the router driving a rollout is SIGKILLed: the next serve takes the rollout over', async () => {
    const d = await runCli('deploy', ['weather', '2.0.0', '--type', 'http', '--url', backends[1]!.url, '--skip-validation', '--strategy', 'canary', '--steps', '50,100', '--interval', '60s', '--detach'], { cwd: p.dir, env: env() });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const first = await startServe(await freePort(), { cwd: p.dir, env: env() });
    routers.push(first);
    first.child.stdout!.resume();
    first.child.stderr!.resume();
    assert.deepEqual(await driverWhen((x) => x !== undefined, 'the first router claims the rollout'), { pid: first.child.pid, host: 'box-1' });
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await exited;
    const second = await startServe(await freePort(), { cwd: p.dir, env: env() });
    routers.push(second);
    second.child.stdout!.resume();
    second.child.stderr!.resume();
    assert.deepEqual(await driverWhen((x) => x?.pid === second.child.pid, 'the second router takes the rollout over'), { pid: second.child.pid, host: 'box-1' });
  });
});
