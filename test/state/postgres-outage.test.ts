/**
 * A database that goes away under a running router and comes back: the router's view of the registry (a
 * LiveView on the PostgreSQL store, as `serve` holds it) keeps its last good state while the database is
 * down, and sees a write made after the database's return. How soon is a matter of the backoff (at most 1 s
 * between attempts, tested as a table; the driver's own grows to 10-20 s) and is printed, not asserted: a
 * timed assertion fails on a loaded machine.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { LiveView } from '../../src/registry/live-view.js';
import { PostgresStore, reconnectBackoffS } from '../../src/state/postgres-store.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { deployUpdate } from './store-contract.js';

describe('PostgreSQL down under a running view, then back', () => {
  let cluster: PgCluster;
  before(async () => {
    cluster = await startPostgres();
  });
  after(() => cluster.stop());

  it('the reconnection backoff never waits more than a second', () => {
    for (let retries = 1; retries <= 30; retries++) assert.ok(reconnectBackoffS(retries) <= 1, `attempt ${retries}`);
  });

  it('after an outage the view keeps its last good state, and a write made once the database is back reaches it', async (t) => {
    const url = await cluster.createDatabase('outage');
    const store = new PostgresStore(url);
    const writer = new PostgresStore(url);
    await writer.update('w', undefined, deployUpdate('w', '1.0.0'));
    // A router's view with its 5 s fallback poll and its listener, as serve runs it.
    const view = new LiveView(store);
    await view.start();
    try {
      await writer.close();
      await cluster.down();
      // Several failed reconnection attempts.
      await new Promise((r) => setTimeout(r, 5_000));
      assert.ok(view.get('w'), 'the last good view is kept while the database is down');
      await cluster.up();
      const changed = new Promise<void>((resolve) => view.once('change', () => resolve()));
      const again = new PostgresStore(url);
      const written = Date.now();
      await again.update('w', undefined, deployUpdate('w', '1.1.0'));
      await again.close();
      // The view's timers are unref'd (serve's HTTP server keeps its process up): a guard keeps this one up meanwhile,
      // and fails the test rather than letting it hang.
      let guard: NodeJS.Timeout | undefined;
      await Promise.race([changed, new Promise((_, reject) => (guard = setTimeout(() => reject(new Error('the view never saw the write')), 60_000)))]);
      clearTimeout(guard);
      const ms = Date.now() - written;
      // The listener reconnects (a re-read) or the 5 s poll runs, each once the driver tries again.
      t.diagnostic(`the view saw the write ${ms} ms after it was committed`);
      assert.equal(view.get('w')!.versions.length, 2);
    } finally {
      view.stop();
      await store.close();
    }
  });
});
