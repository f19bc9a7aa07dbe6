/**
 * The "done when" of live migration: a canary under load through a real `mcp-rollout serve` (default
 * --on-rollback migrate), with SDK v1 clients that have no retry logic of their own (src/load/client-load.ts).
 * The bad version (weather v3, failing a third of its calls) is rolled back while sessions run on it: no client
 * session fails or is ended; the only failed calls are v3's own errors.
 */
import { strict as assert } from 'node:assert';
import { type ChildProcess } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad, type LoadStats } from '../../src/load/client-load.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { freePort } from '../helpers/everything-http.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { weatherHttp } from '../helpers/weather-http.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

/** Polls until `cond` holds; fails naming `what` (a guard against hanging, not a timed assertion). */
async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 60_000; Date.now() < end; await sleep(50)) if (await cond()) return;
  assert.fail(`never happened: ${what}`);
}

describe('a canary rolled back under load through serve, sessions migrating', () => {
  const projects: TempProject[] = [];
  const serves: ServeProcess[] = [];
  const children: ChildProcess[] = [];
  after(async () => {
    await Promise.all(serves.map((x) => x.stop()));
    await Promise.all(children.map((c) => new Promise<void>((resolve) => (c.exitCode !== null ? resolve() : (c.once('exit', () => resolve()), c.kill('SIGTERM'))))));
    await Promise.all(projects.map((x) => x.cleanup()));
  });

  /** Serve with `args`, load, the canary rolled back while sessions run on it; the load's stats. */
  const rollBackUnderLoad = async (args: string[]): Promise<LoadStats> => {
    const [v1, v3] = [await weatherHttp('v1'), await weatherHttp('v3')];
    children.push(v1.child, v3.child);
    const p = await tempProject();
    projects.push(p);
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('weather', { version: '1.0.0', transport: { type: 'http', url: v1.url, headers: {} } });
    await registry.deploy('weather', { version: '2.1.0', transport: { type: 'http', url: v3.url, headers: {} }, traffic: 50 });
    const serve = await startServe(await freePort(), { cwd: p.dir, env: p.env }, args);
    serves.push(serve);
    const metric = async (re: RegExp): Promise<number> => Number(re.exec(await (await fetch(`${serve.base}/metrics`)).text())?.[1] ?? 0);
    // Long sessions, so that many are open on the canary when it is rolled back.
    const load = startLoad({ url: `${serve.base}/mcp/weather`, workers: 6, callsPerSession: 30, calls: [{ name: 'current', arguments: {} }, { name: 'forecast', arguments: { city: 'Porto' } }], pauseMs: 10 });
    try {
      await until('sessions open on the canary', async () => (await metric(/^mcp_rollout_sessions_active\{server="weather",version="2\.1\.0"\} (\d+)$/m)) >= 2);
      await registry.rollback('weather', '2.1.0', 'bad');
      await until('the router moved the canary\'s sessions', async () => (await metric(/^mcp_rollout_sessions_ended_total\{server="weather",version="2\.1\.0",reason="VersionRolledBack"\} (\d+)$/m)) >= 2);
      const before = load.stats.calls;
      await until('100 more calls after the rollback', () => load.stats.calls >= before + 100);
      assert.equal(await metric(/^mcp_rollout_sessions_active\{server="weather",version="2\.1\.0"\} (\d+)$/m), 0, 'none left on the canary');
    } finally {
      await load.stop();
      await serve.stop();
    }
    return load.stats;
  };

  it('0 client sessions fail when the bad version is rolled back', async () => {
    const s = await rollBackUnderLoad([]);
    const sessionFailures = s.failures.filter((f) => f.startsWith('session:'));
    const notV3 = s.failures.filter((f) => !f.includes('weather backend timed out'));
    assert.equal(s.sessionsEnded, 0, 'no session was ended (404)');
    assert.deepEqual(sessionFailures, [], 'no session failed');
    assert.deepEqual(notV3, [], 'no call failed but for v3\'s own errors');
    assert.ok(s.sessions >= 6, `${s.sessions} sessions`);
  });

  it('with --on-rollback 404 the sessions on the canary get the specification\'s 404 instead', async () => {
    const s = await rollBackUnderLoad(['--on-rollback', '404']);
    assert.ok(s.sessionsEnded >= 2, `${s.sessionsEnded} sessions ended by 404`);
  });
});
