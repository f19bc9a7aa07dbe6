/**
 * The database side of a router fleet against a real throwaway cluster, with two stores standing for two
 * hosts: every router's telemetry batch is read back and summed into one window by the analysis' source. (The
 * lease cases run in the store contract, test/state/store-contract.ts, for every store that keeps leases.)
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { PostgresStore } from '../../src/state/postgres-store.js';
import { fleetTelemetry } from '../../src/telemetry/fleet-telemetry.js';
import { VersionMetrics } from '../../src/telemetry/version-metrics.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';


describe('fleet state on PostgreSQL', () => {
  let cluster: PgCluster;
  let one: PostgresStore;
  let two: PostgresStore;
  before(async () => {
    cluster = await startPostgres();
    const url = await cluster.createDatabase('fleet');
    one = new PostgresStore(url);
    two = new PostgresStore(url);
  });
  after(async () => {
    await one.close();
    await two.close();
    await cluster.stop();
  });

  it('each router\'s batch is stored; the analysis sums every router\'s window, from each router\'s own reading', async () => {
    const started = Date.now() - 60_000;
    const ra = { id: 'router-a', host: 'host-a', pid: 1, url: 'http://a', startedAt: started };
    const rb = { id: 'router-b', host: 'host-b', pid: 2, url: 'http://b', startedAt: started };
    const ma = new VersionMetrics();
    const mb = new VersionMetrics();
    const calls = (m: VersionMetrics, n: number, error = false) => {
      for (let i = 0; i < n; i++) m.request('t', '2.0.0', 'tools/call', 3, { error });
    };
    calls(ma, 5);
    calls(mb, 7);
    await one.writeTelemetry(ra, ma.totals());
    await two.writeTelemetry(rb, mb.totals());
    const source = fleetTelemetry(one);
    const since = Date.now();
    // The first reading is the base of routers that started before the window.
    assert.equal((await source.window('t', '2.0.0', since - 1, since)).requests, 0);
    calls(ma, 3);
    calls(mb, 4, true);
    await one.writeTelemetry(ra, ma.totals());
    await two.writeTelemetry(rb, mb.totals());
    const w = await source.window('t', '2.0.0', since, since + 1000);
    assert.deepEqual({ requests: w.requests, errors: w.errors, toolCalls: w.toolCalls }, { requests: 7, errors: 4, toolCalls: 7 });
    const reports = await two.readTelemetry(5_000);
    assert.deepEqual(reports.map((r) => [r.router.id, r.series[0]!.counters.requests]).sort(), [['router-a', 8], ['router-b', 11]]);
    // A router that started inside the window counts from zero: all it reported happened in the window.
    const rc = { id: 'router-c', host: 'host-c', pid: 3, url: 'http://c', startedAt: since + 10 };
    const mc = new VersionMetrics();
    calls(mc, 2);
    await one.writeTelemetry(rc, mc.totals());
    assert.equal((await source.window('t', '2.0.0', since, since + 2000)).requests, 9);
  });
});
