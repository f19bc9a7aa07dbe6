/**
 * Commands and the router on a PostgreSQL store, as real processes against a real throwaway cluster: a
 * database named with --store or MCP_ROLLOUT_STORE is used instead of the project's files, a bad or
 * unreachable one fails with its URL (without the password), and a running view hears a CLI write pushed to
 * it, also after its listener was cut.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { LiveView } from '../../src/registry/live-view.js';
import { Registry } from '../../src/registry/registry.js';
import { PostgresStore } from '../../src/state/postgres-store.js';
import { EVERYTHING, freePort } from '../helpers/everything-http.js';
import { waitForOutput } from '../helpers/output.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { BIN_DIR, runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const DEPLOY = ['--skip-validation', '--type', 'stdio', '--command', 'node'];

describe('commands on a PostgreSQL store', () => {
  let cluster: PgCluster;
  let p: TempProject;
  let url: string;
  before(async () => {
    cluster = await startPostgres();
    p = await tempProject();
    url = await cluster.createDatabase('cli');
  });
  after(async () => {
    await p.cleanup();
    await cluster.stop();
  });
  const withStore = (): NodeJS.ProcessEnv => ({ ...p.env, MCP_ROLLOUT_STORE: url });

  it('--store and MCP_ROLLOUT_STORE name the database every command uses; the project files are not touched', async () => {
    const first = await runCli('deploy', ['weather', '1.0.0', ...DEPLOY, '--store', url], { cwd: p.dir, env: p.env });
    assert.equal(first.code, 0, first.stderr);
    const second = await runCli('deploy', ['weather', '1.1.0', ...DEPLOY, '--traffic', '10'], { cwd: p.dir, env: withStore() });
    assert.equal(second.code, 0, second.stderr);
    const status = await runCli('status', ['weather', '--json', `--store=${url}`], { cwd: p.dir, env: p.env });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /"1\.1\.0"/);
    assert.ok(!existsSync(join(p.dir, '.mcp-rollout', 'registry.json')), 'no registry file was written');
    const fileStatus = await runCli('status', ['weather'], { cwd: p.dir, env: p.env });
    assert.equal(fileStatus.code, 1, 'without the URL the file store is used, and it has no such server');
  });

  it('a URL that is not PostgreSQL, and an unreachable database, fail with exit 1 naming the URL without its password', async () => {
    const bad = await runCli('status', ['--store', 'mysql://me:pw1@db/x'], { cwd: p.dir, env: p.env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--store "mysql:\/\/me@db\/x" is not a PostgreSQL URL/);
    const gone = await runCli('status', [], { cwd: p.dir, env: { ...p.env, MCP_ROLLOUT_STORE: 'postgres://me:pw2@127.0.0.1:1/x' } });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /database postgres:\/\/me@127\.0\.0\.1:1\/x: /);
    for (const r of [bad, gone]) assert.ok(!/pw[12]/.test(r.stderr), r.stderr);
  });

  it('serve reads the database named by MCP_ROLLOUT_STORE', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [join(BIN_DIR, 'mcp-rollout.js'), 'serve', '--port', String(port)], { cwd: p.dir, env: withStore() });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitForOutput(child, /listening on .*\(weather\)/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });

  it('a running view hears a CLI write pushed (it would poll only every 10 minutes), and a write made while its listener was cut once it is back', async () => {
    const store = new PostgresStore(url);
    const view = new LiveView(store, 600_000, 600_000);
    await view.start();
    const changed = (): Promise<void> => new Promise((resolve) => view.once('change', resolve));
    const share = (): number | undefined => view.get('weather')?.versions.find((v) => v.version === '1.1.0')?.trafficPercentage;
    const admin = postgres(cluster.url, { max: 1, onnotice: () => undefined });
    const writer = new PostgresStore(url);
    try {
      let seen = changed();
      const r = await runCli('traffic', ['weather', '1.1.0', '30'], { cwd: p.dir, env: withStore() });
      assert.equal(r.code, 0, r.stderr);
      await seen;
      assert.equal(share(), 30);
      // The listener is cut and cannot come back until the write is made: NOTIFY has no replay, so only the
      // re-read on reconnecting can bring the write.
      await writer.list(); // connected before new connections are refused
      await admin`ALTER DATABASE cli WITH ALLOW_CONNECTIONS false`;
      const cut = await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'listen%' AND datname = 'cli'`;
      assert.equal(cut.length, 1, 'one listening connection');
      seen = changed();
      await writer.update('weather', undefined, (cur) => {
        const versions = cur!.versions.map((v) => (v.version === '1.1.0' ? { ...v, trafficPercentage: 40 } : v.status === 'blue' ? { ...v, trafficPercentage: 60 } : v));
        return { server: { ...cur!, versions }, log: [{ time: new Date(0).toISOString(), event: 'mcp_server_traffic_changed', server: 'weather' }], value: 0 };
      });
      await admin`ALTER DATABASE cli WITH ALLOW_CONNECTIONS true`;
      await seen;
      assert.equal(share(), 40);
    } finally {
      view.stop();
      await Promise.all([store.close(), writer.close(), admin.end()]);
    }
  });
  it('deploy --strategy is refused while another host\'s driver holds the rollout\'s lease, and replaces the rollout once it holds none (that driver died), as on files', async () => {
    const env = withStore();
    for (const args of [['relay', '1.0.0', ...DEPLOY], ['relay', '2.0.0', ...DEPLOY, '--strategy', 'canary', '--detach']]) {
      const r = await runCli('deploy', args, { cwd: p.dir, env });
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    // A router on another host took the detached rollout: its pid means nothing here, its lease says whether it lives.
    const store = new PostgresStore(url);
    const gone = { pid: 4_000_000, host: 'another-host' };
    try {
      await new Registry(store).claimRollout('relay', gone, undefined);
      assert.equal(await store.acquireLease('relay', gone, 60_000), true);
      const refused = await runCli('deploy', ['relay', '3.0.0', ...DEPLOY, '--strategy', 'canary', '--detach'], { cwd: p.dir, env });
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /server "relay" already has a rollout in progress \(2\.0\.0: /);
      await store.releaseLease('relay', gone);
      const replaced = await runCli('deploy', ['relay', '3.0.0', ...DEPLOY, '--strategy', 'canary', '--detach'], { cwd: p.dir, env });
      assert.equal(replaced.code, 0, replaced.stdout + replaced.stderr);
      const { server } = await new Registry(store).get('relay');
      assert.equal(server.rollout?.spec.version, '3.0.0');
      assert.equal(server.rollout?.driver, undefined, 'detached: no driver yet');
    } finally {
      await store.close();
    }
  });

  it('deploy --detach and a managed rollout find a router of the database running in another directory (any host), even one that has seen no traffic yet', async () => {
    const elsewhere = await tempProject();
    const store = new PostgresStore(url);
    const port = await freePort();
    const child = spawn(process.execPath, [join(BIN_DIR, 'mcp-rollout.js'), 'serve', '--port', String(port)], { cwd: elsewhere.dir, env: { ...elsewhere.env, MCP_ROLLOUT_STORE: url } });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitForOutput(child, /listening on/);
      // The router is known to the fleet by its telemetry batch (a presence row while it has no series).
      // It writes a batch a second: 10 s of none means it is not seen at all (before: it wrote nothing without traffic).
      let seen = false;
      for (let i = 0; i < 100 && !seen; i++) {
        seen = (await store.readTelemetry(5000)).some((r) => r.router.pid === child.pid);
        if (!seen) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(seen, 'the router without traffic is in the fleet\'s telemetry');
      const http = ['--type', 'http', '--url', 'http://127.0.0.1:1/mcp', '--skip-validation'];
      assert.equal((await runCli('deploy', ['detached', '1.0.0', ...http], { cwd: p.dir, env: withStore() })).code, 0);
      const detached = await runCli('deploy', ['detached', '1.1.0', ...http, '--strategy', 'canary', '--detach'], { cwd: p.dir, env: withStore() });
      assert.equal(detached.code, 0, detached.stderr);
      // Before: "no router is running: start mcp-rollout serve", the database's routers unseen from this directory.
      // Another test's router may still count as running (its last batch is under FRESH_MS old): one of several.
      assert.match(detached.stdout, new RegExp(`(the running router|one of the running routers) \\([^)]*http://127\\.0\\.0\\.1:${port}\\b[^)]*\\) drives it`));
      const everything = ['--type', 'http', '--command', 'node', '--port', 'auto', '--skip-validation', '--', EVERYTHING, 'streamableHttp'];
      const managed = await runCli('deploy', ['managed', '1.0.0', ...everything], { cwd: p.dir, env: withStore() });
      assert.equal(managed.code, 0, managed.stderr);
      // Before: refused ("managed versions roll out under mcp-rollout serve: start it") with the router running.
      const rollout = await runCli('deploy', ['managed', '1.1.0', '--strategy', 'canary', '--detach', ...everything], { cwd: p.dir, env: withStore() });
      assert.equal(rollout.code, 0, rollout.stderr);
      assert.match(rollout.stdout, /green 1\.1\.0 started by the router: pid \d+/);
    } finally {
      child.kill('SIGTERM');
      await exited;
      await store.close();
      await elsewhere.cleanup();
    }
  });
});
