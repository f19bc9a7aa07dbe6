/**
 * A database that goes away under a running router and comes back: the router's view of the registry (a
 * LiveView on the PostgreSQL store, as `serve` holds it) keeps its last good state while the database is
 * down, and sees a write made after the database's return within about a second, not after the 10-20 s the
 * driver's own reconnection backoff grows to during an outage.
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

  it('after a 25 s outage a write made once the database is back reaches the view within a few seconds', async () => {
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
      // Long enough for the driver's default backoff to reach its 10-20 s steps (about 11 s of failed attempts).
      await new Promise((r) => setTimeout(r, 25_000));
      assert.ok(view.get('w'), 'the last good view is kept while the database is down');
      await cluster.up();
      const changed = new Promise<void>((resolve) => view.once('change', () => resolve()));
      const again = new PostgresStore(url);
      const written = Date.now();
      await again.update('w', undefined, deployUpdate('w', '1.1.0'));
      await again.close();
      await changed;
      const ms = Date.now() - written;
      // The listener reconnects (a re-read) or the 5 s poll runs, each once the driver tries again: before, up to 20 s.
      assert.ok(ms < 3_000, `the view saw the write ${ms} ms after it was committed`);
      assert.equal(view.get('w')!.versions.length, 2);
    } finally {
      view.stop();
      await store.close();
    }
  });
});
