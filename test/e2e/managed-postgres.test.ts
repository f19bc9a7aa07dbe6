/**
 * Given a managed version of the example weather server on a PostgreSQL store, run by one `serve` in its own
 * directory (as on another host), when `mcp-deploy --strategy bluegreen` of a new managed version runs in the
 * foreground from a directory no router shares, then it finds the router through the database (it once refused:
 * "managed versions roll out under mcp-rollout serve: start it"), waits for the router to report the green ready,
 * and the rollout is promoted under client traffic. Real processes throughout: the CLI, the router, the managed
 * servers, the SDK v1 client, a throwaway cluster.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../helpers/everything-http.js';
import { startTraffic, type Traffic } from '../helpers/mcp-traffic.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { pidsWith } from '../helpers/processes.js';
import { runCli } from '../helpers/run-cli.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';
import { WEATHER } from '../helpers/weather-http.js';

describe('a managed version rolled out on a database from a directory no router shares', () => {
  let cluster: PgCluster;
  let p: TempProject;
  let url: string;
  let serve: ServeProcess | undefined;
  let traffic: Traffic | undefined;
  const token = `managed-pg-${randomUUID()}`;
  const dirOf = (h: string): string => join(p.dir, h);
  const env = (): NodeJS.ProcessEnv => ({ ...p.env, MCP_ROLLOUT_STORE: url });
  // The token rides as an argument the weather server ignores, so the test finds (and reaps) what it started.
  const deployArgs = (version: string, variant: string, extra: string[]): string[] =>
    ['wx', version, '--type', 'http', '--command', process.execPath, '--port', 'auto', '--skip-validation', ...extra, '--', WEATHER, variant, '--http', '{port}', token];

  before(async () => {
    cluster = await startPostgres();
    p = await tempProject();
    url = await cluster.createDatabase('managed');
    for (const h of ['host-a', 'ops']) await mkdir(dirOf(h));
    const blue = await runCli('deploy', deployArgs('1.0.0', 'v1', []), { cwd: dirOf('ops'), env: env() });
    assert.equal(blue.code, 0, blue.stdout + blue.stderr);
    serve = await startServe(await freePort(), { cwd: dirOf('host-a'), env: env() });
    serve.child.stdout!.resume();
    serve.child.stderr!.resume();
    // New sessions all the time, so the green has traffic to be judged on once it takes them.
    traffic = startTraffic(`${serve.base}/mcp/wx`, 2, { callsPerSession: 5 });
    while (traffic.ok < 5) await new Promise((r) => setTimeout(r, 50));
  });
  after(async () => {
    await traffic?.stop();
    await serve?.stop();
    for (const pid of pidsWith(token)) process.kill(pid, 'SIGKILL');
    await p?.cleanup();
    await cluster?.stop();
  });

  it('deploy finds the router through the database, waits for the green ready, and the rollout is promoted', async () => {
    const d = await runCli('deploy', deployArgs('1.1.0', 'v2', ['--strategy', 'bluegreen', '--bake', '3s']), { cwd: dirOf('ops'), env: env() });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /process +green 1\.1\.0 started by the router: pid \d+, port \d+, ready/);
    assert.match(d.stdout, /promoted +1\.1\.0 promoted to blue/);
    assert.deepEqual([...traffic!.failed], [], 'no client call failed');
  });
});
