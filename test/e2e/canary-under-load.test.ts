/**
 * Given three versions of the example server behind the HTTP router and clients opening sessions all the
 * time, when v2 is rolled out as a canary it is promoted, and when v3 (failing a third of its calls) is
 * rolled out it is rolled back by the analysis; no client request fails because of a switch itself.
 */
import { strict as assert } from 'node:assert';
import { type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_THRESHOLDS } from '../../src/domain/analysis.js';
import { parseSteps, type RolloutEvent, type RolloutSpec } from '../../src/domain/rollout-controller.js';
import { DEFAULT_ROUTER_OPTIONS, HttpRouter } from '../../src/router/http-router.js';
import { startLoad, type RunningLoad } from '../../src/load/client-load.js';
import { beginRollout, type RunnerDeps } from '../../src/pipeline/rollout-runner.js';
import { LiveView } from '../../src/registry/live-view.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { weatherHttp } from '../helpers/weather-http.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

describe('a canary under real load through the router', () => {
  let p: TempProject;
  let registry: Registry;
  let view: LiveView;
  let router: HttpRouter;
  let load: RunningLoad;
  const children: ChildProcess[] = [];
  const urls: Record<string, string> = {};

  before(async () => {
    p = await tempProject();
    for (const v of ['v1', 'v2', 'v3']) {
      const b = await weatherHttp(v);
      children.push(b.child);
      urls[v] = b.url;
    }
    registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('weather', { version: '1.0.0', transport: { type: 'http', url: urls.v1!, headers: {} } });
    view = new LiveView(registry.store, 100);
    await view.start();
    router = new HttpRouter(view, { ...DEFAULT_ROUTER_OPTIONS, port: 0 });
    const port = await router.listen();
    load = startLoad({
      url: `http://127.0.0.1:${port}/mcp/weather`,
      workers: 4,
      callsPerSession: 4,
      calls: [{ name: 'current', arguments: {} }, { name: 'forecast', arguments: { city: 'Porto' } }],
      pauseMs: 15,
    });
  });
  after(async () => {
    await load.stop();
    await router.close(1000);
    view.stop();
    for (const c of children) c.kill('SIGTERM');
    await p.cleanup();
  });

  const rollout = async (version: string, url: string): Promise<{ phase: string; message: string; events: RolloutEvent[] }> => {
    await registry.deploy('weather', { version, transport: { type: 'http', url, headers: {} } });
    // This test is about error rates; latency on a 2-core machine running other tests is noise here.
    const thresholds = { ...DEFAULT_THRESHOLDS, minP99IncreaseMs: 10_000 };
    const spec: RolloutSpec = { server: 'weather', version, strategy: 'canary', steps: parseSteps('25,50,100'), intervalMs: 2500, failureLimit: 1, thresholds };
    const events: RolloutEvent[] = [];
    const deps: RunnerDeps = {
      registry,
      telemetry: { window: (server, v, since) => Promise.resolve(router.metrics.window(server, v, since)) },
      tickMs: 250,
      sleep: (ms) => sleep(ms),
      onEvent: (e) => events.push(e),
    };
    const status = await beginRollout(deps, spec);
    return { phase: status.phase, message: status.message, events };
  };

  it('promotes the good version with no failed client request', async () => {
    await sleep(500); // some sessions on v1 first
    const r = await rollout('2.0.0', urls.v2!);
    assert.equal(r.phase, 'Healthy', r.message);
    assert.deepEqual(r.events.filter((e) => e.type === 'weight-set').map((e) => e.message), [
      'step 1/3: 25% to 2.0.0, observing',
      'step 2/3: 50% to 2.0.0, observing',
      'step 3/3: 100% to 2.0.0, observing',
    ]);
    await sleep(300);
    assert.deepEqual(load.stats.failures, []);
    assert.equal(load.stats.sessionsEnded, 0, 'a promotion drains sessions; it never ends them');
    const { server } = await registry.get('weather');
    assert.deepEqual(server.versions.map((v) => `${v.version} ${v.status} ${v.trafficPercentage}`), ['1.0.0 inactive 0', '2.0.0 blue 100']);
    assert.ok(router.metrics.window('weather', '2.0.0', 0).requests >= 20);
  });

  it('rolls the failing version back by itself, with the measured reason', async () => {
    const r = await rollout('2.1.0', urls.v3!);
    assert.equal(r.phase, 'Degraded');
    assert.match(r.message, /^rolled back: error rate \d+(\.\d)?% > 10% over \d+ requests/);
    const { server } = await registry.get('weather');
    assert.deepEqual(server.versions.map((v) => `${v.version} ${v.status} ${v.trafficPercentage}`), ['1.0.0 inactive 0', '2.0.0 blue 100', '2.1.0 inactive 0']);
    assert.equal(server.mcpVersionHistory.lastRollback?.reason, r.message.replace('rolled back: ', ''));
    await sleep(500);
    const stats = await load.stop();
    // Clients saw v3's own failures and nothing else.
    const other = stats.failures.filter((f) => !f.includes('weather backend timed out'));
    assert.deepEqual(other, []);
    assert.ok(stats.failures.length > 0, 'v3 did fail some calls');
  });
});
