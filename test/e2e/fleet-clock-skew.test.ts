/**
 * Given routers on one PostgreSQL database whose host clocks are off by a minute (one ahead, one behind, as
 * containers without NTP drift), the analysis still judges each step on the calls made in its window, and a
 * step's interval runs for its length: every instant the fleet compares (a step's window start, taken by the
 * CLI; a router's start; the readings of its counters; the driver's "now") is the database's clock, never a
 * host's. Real processes: the CLI, two `serve` processes with Date.now() shifted by a preload, a weather server
 * over Streamable HTTP, the SDK v1 client, a throwaway cluster.
 */
import { strict as assert } from 'node:assert';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Registry } from '../../src/registry/registry.js';
import { PostgresStore } from '../../src/state/postgres-store.js';
import { fleetTelemetry } from '../../src/telemetry/fleet-telemetry.js';
import { freePort } from '../helpers/everything-http.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { runCli } from '../helpers/run-cli.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { weatherHttp, type Weather } from '../helpers/weather-http.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const SKEWED_CLOCK = fileURLToPath(new URL('../../../test/fixtures/skewed-clock.mjs', import.meta.url));
const MINUTE = 60_000;

/** `n` tool calls through `router`, in one SDK session. */
async function calls(router: ServeProcess, n: number): Promise<void> {
  const client = new Client({ name: 'skew-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${router.base}/mcp/weather`)));
  try {
    for (let i = 0; i < n; i++) await client.callTool({ name: 'current', arguments: {} });
  } finally {
    await client.close();
  }
}

describe('routers whose host clocks are a minute off, on one database', () => {
  let cluster: PgCluster;
  let p: TempProject;
  let url: string;
  let store: PostgresStore;
  let registry: Registry;
  let weather: Weather;
  const routers: ServeProcess[] = [];
  const said: Record<string, string> = {};
  const dirOf = (h: string): string => join(p.dir, h);
  const envOf = (host?: string): NodeJS.ProcessEnv => ({ ...p.env, MCP_ROLLOUT_STORE: url, ...(host ? { MCP_ROLLOUT_HOST: host } : {}) });

  /** A router on "host" `h` whose Date.now() is `skewMs` off. */
  const skewedRouter = async (h: string, skewMs: number): Promise<ServeProcess> => {
    const r = await startServe(await freePort(), { cwd: dirOf(h), env: { ...envOf(h), MCP_ROLLOUT_TEST_SKEW_MS: String(skewMs) }, nodeArgs: ['--import', SKEWED_CLOCK] });
    r.child.stdout!.setEncoding('utf8').on('data', (d: string) => (said[h] = (said[h] ?? '') + d));
    r.child.stderr!.setEncoding('utf8').on('data', (d: string) => (said[h] = (said[h] ?? '') + d));
    routers.push(r);
    return r;
  };

  /** Waits until the database holds, for each router, at least its expected cumulative tool calls on 1.0.0. */
  const stored = async (expected: Map<ServeProcess, number>): Promise<void> => {
    for (let i = 0; ; i++) {
      const reports = await store.readTelemetry(30_000);
      const seen = [...expected].map(([r, n]) => {
        const got = reports.find((x) => x.router.pid === r.child.pid)?.series.find((s) => s.server === 'weather' && s.version === '1.0.0')?.counters.toolCalls ?? 0;
        return got >= n;
      });
      if (seen.every(Boolean)) return;
      if (i > 100) assert.fail(`the routers' batches did not arrive: ${JSON.stringify(reports.map((x) => [x.router.pid, x.series]))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  before(async () => {
    cluster = await startPostgres();
    p = await tempProject();
    url = await cluster.createDatabase('skew');
    for (const h of ['host-a', 'host-b', 'ops']) await mkdir(dirOf(h));
    weather = await weatherHttp('v1');
    const d = await runCli('deploy', ['weather', '1.0.0', '--type', 'http', '--url', weather.url, '--skip-validation'], { cwd: dirOf('ops'), env: envOf() });
    assert.equal(d.code, 0, d.stderr);
    store = new PostgresStore(url);
    registry = new Registry(store);
  });
  after(async () => {
    for (const r of routers) await r.stop();
    await store.close();
    await weather.stop();
    await p.cleanup();
    await cluster.stop();
  });

  it('the analysis counts the calls of the window: a fast router started before it, a slow one started inside it', async () => {
    // Router A's clock is a minute ahead: by its own clock it started after the window below begins.
    const a = await skewedRouter('host-a', MINUTE);
    await calls(a, 5);
    await stored(new Map([[a, 5]]));
    const telemetry = fleetTelemetry(store);
    // The window begins here (as a CLI on a third host starts a step); a runner reads at once, as it does each tick.
    const since = registry.now();
    await telemetry.window('weather', '1.0.0', since, registry.now());
    // Router B's clock is a minute behind: by its own clock it started long before the window.
    const b = await skewedRouter('host-b', -MINUTE);
    await calls(b, 4);
    await calls(a, 3);
    await stored(new Map([[a, 8], [b, 4]]));
    const w = await telemetry.window('weather', '1.0.0', since, registry.now());
    assert.equal(w.toolCalls, 7, `3 calls through A and 4 through B since the window began (A's 5 before it left out, none of B's dropped); saw ${JSON.stringify(w)}`);
  });

  it('a step started by the CLI is observed for its interval by a router whose clock is off, and its events carry the database\'s time', async () => {
    const d = await runCli('deploy', ['weather', '2.0.0', '--type', 'http', '--url', weather.url, '--skip-validation', '--strategy', 'canary', '--steps', '50,100', '--interval', '3s', '--detach'], { cwd: dirOf('ops'), env: envOf() });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const deployed = performance.now();
    let events: { at: number; type: string; message: string }[] = [];
    for (;;) {
      const r = (await store.get('weather'))?.server.rollout;
      events = r?.events ?? [];
      if (events.some((e) => e.type === 'analysis')) break;
      if (performance.now() - deployed > 30_000) assert.fail(`no analysis within 30 s (a router a minute behind waits a minute); events ${JSON.stringify(events)}; routers said ${JSON.stringify(said)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const seenAfter = performance.now() - deployed;
    const step = events.find((e) => e.type === 'weight-set')!;
    const analysis = events.find((e) => e.type === 'analysis')!;
    const driver = (await store.get('weather'))?.server.rollout?.driver;
    assert.ok(driver && routers.some((r) => r.child.pid === driver.pid), `a skewed router drives the rollout (${JSON.stringify(driver)})`);
    // Not at once (a router a minute ahead found the 3 s interval long over), nor a minute late.
    assert.ok(seenAfter >= 2_000, `the step was observed ${Math.round(seenAfter)} ms after deploy returned, not its 3 s interval: ${JSON.stringify(events)}`);
    const observed = analysis.at - step.at;
    assert.ok(observed >= 3_000 && observed < 10_000, `analysis ${observed} ms after the step by the events' times (one clock): ${JSON.stringify(events)}`);
    assert.ok(Math.abs(analysis.at - registry.now()) < 10_000, `the driver's event is stamped with the database's time, not its host's: ${analysis.at} vs ${registry.now()}`);
  });
});
