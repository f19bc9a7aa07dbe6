/**
 * Given a registry on files whose rollouts were being driven on another host (a registry copied from another
 * machine, or shared on a network disk), when `serve` starts on it: the rollout whose driver's lease has run
 * out is taken over and driven here, and the one whose driver still renews its lease is left alone until the
 * renewals stop, then taken over within one lease period. (Before leases on files, a driver on another host was
 * taken to be alive for ever, and neither rollout would ever move.) Real processes: `serve`, a weather server
 * over Streamable HTTP; the other host's driver is this test, renewing through the store.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_THRESHOLDS } from '../../src/domain/analysis.js';
import { parseSteps, start, type RolloutSpec } from '../../src/domain/rollout-controller.js';
import type { RolloutDriver } from '../../src/domain/types.js';
import { LEASE_MS } from '../../src/pipeline/rollout-lease.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { freePort } from '../helpers/everything-http.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { weatherHttp, type Weather } from '../helpers/weather-http.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

/** The driver recorded on the other host: its pid means nothing here. */
const FAR: RolloutDriver = { pid: 4242, host: 'far-host' };

describe('rollouts driven from another host, on the file store', () => {
  let p: TempProject;
  let store: JsonFileStore;
  let registry: Registry;
  let weather: Weather;
  let serve: ServeProcess | undefined;
  let renewing: NodeJS.Timeout | undefined;

  before(async () => {
    p = await tempProject();
    weather = await weatherHttp('v1');
    store = JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env });
    registry = new Registry(store);
    for (const name of ['stale', 'renewed']) {
      await registry.deploy(name, { version: '1.0.0', transport: { type: 'http', url: weather.url, headers: {} } });
      await registry.deploy(name, { version: '2.0.0', transport: { type: 'http', url: weather.url, headers: {} } });
      // A canary the far host started and drove (its first step applied), recorded as its driver.
      const spec: RolloutSpec = { server: name, version: '2.0.0', strategy: 'canary', steps: parseSteps('20,100'), intervalMs: 60_000, failureLimit: 1, thresholds: DEFAULT_THRESHOLDS };
      const t = start(spec, registry.now());
      await registry.setTraffic(name, '2.0.0', 20, 'canary rollout');
      await registry.saveRollout(name, { spec, status: t.status, driver: FAR }, t.events);
    }
    // The stale one's driver stopped renewing: its lease ran out. The other's driver renews as a driver does.
    assert.equal(await store.acquireLease('stale', FAR, 1), true);
    assert.equal(await store.acquireLease('renewed', FAR, LEASE_MS), true);
    renewing = setInterval(() => void store.renewLease('renewed', FAR, LEASE_MS), LEASE_MS / 3);
  });
  after(async () => {
    clearInterval(renewing);
    await serve?.stop();
    await weather.stop();
    await p.cleanup();
  });

  /** Resolves with the rollout's driver once `ok` holds for it (read from the files every 100 ms). */
  const driverUntil = async (name: string, ok: (d: RolloutDriver | undefined) => boolean, what: string, limitMs = 30_000): Promise<RolloutDriver | undefined> => {
    const from = performance.now();
    for (;;) {
      const d = (await registry.get(name)).server.rollout?.driver;
      if (ok(d)) return d;
      if (performance.now() - from > limitMs) assert.fail(`not seen within ${limitMs} ms: ${what}; driver ${JSON.stringify(d)}, lease ${JSON.stringify(await store.lease(name))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('serve takes over the rollout whose lease ran out and leaves the one whose lease runs; that one once it stops being renewed', async (t) => {
    serve = await startServe(await freePort(), { cwd: p.dir, env: p.env });
    const pid = serve.child.pid!;
    const here = (d: RolloutDriver | undefined): boolean => d?.pid === pid;
    await driverUntil('stale', here, 'serve takes over the rollout whose lease ran out');
    assert.equal((await store.lease('stale'))?.holder.pid, pid, 'and holds its lease');
    // The supervisor judges every rollout in each look: the renewed one was judged with the stale one; its
    // driver is still the far host's.
    assert.deepEqual((await registry.get('renewed')).server.rollout?.driver, FAR, 'a driver whose lease runs is left alone');
    assert.deepEqual((await store.lease('renewed'))?.holder, FAR);
    // The far driver dies: no more renewals. Within one lease period (plus the supervisor's look) it is taken over.
    clearInterval(renewing);
    const stopped = performance.now();
    await driverUntil('renewed', here, 'serve takes over once the renewals stop', LEASE_MS + 10_000);
    const after = performance.now() - stopped;
    t.diagnostic(`taken over ${Math.round(after)} ms after the renewals stopped (lease ${LEASE_MS} ms, renewed every ${Math.round(LEASE_MS / 3)} ms)`);
    // The last renewal was at most a third of a lease before the stop: not taken before the lease ran out.
    assert.ok(after >= (LEASE_MS * 2) / 3 - 500 && after <= LEASE_MS + 6_000, `taken over ${Math.round(after)} ms after the renewals stopped (lease ${LEASE_MS} ms)`);
  });
});
