/**
 * Given two `serve` processes on one PostgreSQL database, each in its own directory under its own host name
 * (MCP_ROLLOUT_HOST), as routers on two hosts would be: `mcp-status` run from a third directory shows the sum
 * of both routers' traffic (they share no disk); and when the router driving a canary is SIGKILLed, the other
 * takes the rollout over once the dead one's lease runs out and drives it to the end its analysis decides (its pid
 * on another "host" cannot be checked: only the lease says it died). Real processes throughout: the CLI, the routers, two weather servers over
 * Streamable HTTP, the SDK v1 client, a throwaway cluster.
 */
import { strict as assert } from 'node:assert';
import { type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LiveView } from '../../src/registry/live-view.js';
import { PostgresStore } from '../../src/state/postgres-store.js';
import { freePort } from '../helpers/everything-http.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { runCli } from '../helpers/run-cli.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { startTraffic } from '../helpers/mcp-traffic.js';
import { weatherHttp } from '../helpers/weather-http.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';


interface StatusJson {
  servers: { versions: { version: string; usage: { requests: number } | null }[] }[];
}

/** Sum of mcp_rollout_requests_total{version} on one router's /metrics. */
async function routerRequests(base: string, version: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^mcp_rollout_requests_total\{server="weather",version="([^"]+)",method="[^"]+"\} (\d+)$/gm)) if (m[1] === version) n += Number(m[2]);
  return n;
}

/** Resolves when `view` (pushed changes) shows `ok` true; rejects after `limitMs` naming `what`. */
function viewUntil(view: LiveView, ok: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!ok()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`not seen within ${limitMs} ms: ${what}; last seen ${JSON.stringify(view.get('weather')?.rollout?.status)}`));
    }, limitMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      view.off('change', check);
    };
    view.on('change', check);
    check();
  });
}

describe('two routers on one database, as on two hosts', () => {
  let cluster: PgCluster;
  let p: TempProject;
  let url: string;
  let store: PostgresStore;
  let view: LiveView;
  const backends: ChildProcess[] = [];
  const routers: ServeProcess[] = [];
  const backendUrl: Record<string, string> = {};
  const said: Record<string, string> = {};
  const dirOf = (h: string): string => join(p.dir, h);
  const envOf = (host?: string): NodeJS.ProcessEnv => ({ ...p.env, MCP_ROLLOUT_STORE: url, ...(host ? { MCP_ROLLOUT_HOST: host } : {}) });

  before(async () => {
    cluster = await startPostgres();
    p = await tempProject();
    url = await cluster.createDatabase('fleet');
    for (const h of ['host-a', 'host-b', 'ops']) await mkdir(dirOf(h));
    for (const variant of ['v1', 'v3']) {
      const w = await weatherHttp(variant);
      backends.push(w.child);
      backendUrl[variant] = w.url;
    }
    const d = await runCli('deploy', ['weather', '1.0.0', '--type', 'http', '--url', backendUrl.v1!, '--skip-validation'], { cwd: dirOf('ops'), env: envOf() });
    assert.equal(d.code, 0, d.stderr);
    for (const h of ['host-a', 'host-b']) {
      const r = await startServe(await freePort(), { cwd: dirOf(h), env: envOf(h) });
      // Read so a full pipe never blocks the router; kept for the failure messages.
      r.child.stdout!.setEncoding('utf8').on('data', (d: string) => (said[h] = (said[h] ?? '') + d));
      r.child.stderr!.setEncoding('utf8').on('data', (d: string) => (said[h] = (said[h] ?? '') + d));
      routers.push(r);
    }
    store = new PostgresStore(url);
    view = new LiveView(store);
    await view.start();
  });
  after(async () => {
    view.stop();
    await store.close();
    for (const r of routers) await r.stop();
    for (const c of backends) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await gone;
      }
    }
    await p.cleanup();
    await cluster.stop();
  });

  it('mcp-status from a third directory shows the sum of both routers\' requests', async () => {
    const [a, b] = routers as [ServeProcess, ServeProcess];
    const ta = startTraffic(`${a.base}/mcp/weather`, 1);
    const tb = startTraffic(`${b.base}/mcp/weather`, 1);
    while (ta.ok < 5 || tb.ok < 5) await new Promise((r) => setTimeout(r, 50));
    await Promise.all([ta.stop(), tb.stop()]);
    const expected = (await routerRequests(a.base, '1.0.0')) + (await routerRequests(b.base, '1.0.0'));
    assert.ok((await routerRequests(a.base, '1.0.0')) > 0 && (await routerRequests(b.base, '1.0.0')) > 0, 'both routers served');
    // Each router writes its batch once a second: ask until the sum has arrived (or fail after 30 tries).
    let shown = -1;
    for (let i = 0; i < 30 && shown !== expected; i++) {
      const s = await runCli('status', ['weather', '--json'], { cwd: dirOf('ops'), env: envOf() });
      assert.equal(s.code, 0, s.stderr);
      shown = s.json<StatusJson>().servers[0]!.versions.find((v) => v.version === '1.0.0')!.usage?.requests ?? 0;
      if (shown !== expected) await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(shown, expected, 'status sums both routers, neither of which shares a disk with it');
  });

  it('the router driving a canary is SIGKILLed: the other takes it over once the lease runs out, holds the lease and drives it to its end', async (t) => {
    const traffic = routers.map((r) => startTraffic(`${r.base}/mcp/weather`, 3, { callsPerSession: 5 }));
    try {
      const d = await runCli('deploy', ['weather', '2.0.0', '--type', 'http', '--url', backendUrl.v3!, '--skip-validation', '--strategy', 'canary', '--steps', '50,100', '--interval', '3s', '--failure-limit', '2', '--detach'], { cwd: dirOf('ops'), env: envOf() });
      assert.equal(d.code, 0, d.stdout + d.stderr);
      // Deploy, in a directory no router shares, names the routers of the database (it once said none ran).
      assert.match(d.stdout, /one of the running routers \(http:\/\/127\.0\.0\.1:\d+, http:\/\/127\.0\.0\.1:\d+\) drives it/);
      const driver = () => view.get('weather')?.rollout?.driver;
      await viewUntil(view, () => driver() !== undefined, 'a router claims the detached rollout');
      const first = driver()!;
      const victim = routers.find((r) => r.child.pid === first.pid)!;
      const survivor = routers.find((r) => r !== victim)!;
      assert.ok(victim, `the driver ${JSON.stringify(first)} is one of the routers`);
      const lease = await store.lease('weather');
      assert.deepEqual(lease?.holder, first, 'the driver holds the lease');
      const killedAt = Date.now();
      const exited = new Promise((r) => victim.child.once('exit', r));
      victim.child.kill('SIGKILL');
      await exited;
      await viewUntil(view, () => driver()?.pid === survivor.child.pid, 'the surviving router takes the rollout over');
      t.diagnostic(`taken over ${Date.now() - killedAt} ms after the SIGKILL (lease 10 s)`);
      assert.notEqual(driver()!.host, first.host, 'driven from the other "host" now');
      assert.deepEqual((await store.lease('weather'))?.holder, driver(), 'the new driver holds the lease');
      // Taken over is not enough: the new driver's ticks must carry the rollout to an end its analysis decides.
      const phase = () => view.get('weather')?.rollout?.status.phase;
      await viewUntil(view, () => phase() === 'Healthy' || phase() === 'Degraded', 'the rollout ends (completed or rolled back) under the new driver', 90_000);
      t.diagnostic(`ended ${phase()} ${Date.now() - killedAt} ms after the SIGKILL`);
      assert.equal(driver()?.pid, survivor.child.pid, 'ended by the router that took it over');
      const ended = view.get('weather')!.rollout!.status;
      // weather v3 fails about a quarter of its calls: over the 10% limit, so rolled back after two failed analyses.
      assert.equal(ended.phase, ended.lastAnalysis?.verdict === 'fail' ? 'Degraded' : 'Healthy', `the end its analysis decides: ${ended.message}`);
    } finally {
      await Promise.all(traffic.map((x) => x.stop()));
    }
  });
});
