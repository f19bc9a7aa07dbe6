/**
 * The PostgreSQL store against a real throwaway cluster: the store contract unchanged, then what only a
 * database store has (schema versioning, the log table, notifications, a clear error for a bad database).
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { AppError } from '../../src/errors.js';
import { DB_SCHEMA_VERSION } from '../../src/state/postgres-schema.js';
import { PostgresStore } from '../../src/state/postgres-store.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { deployUpdate, storeContract } from './store-contract.js';

let cluster: PgCluster;
let databases = 0;
/** A store on a database of its own. */
async function freshStore(): Promise<{ store: PostgresStore; url: string }> {
  const url = await cluster.createDatabase(`store_${++databases}`);
  return { store: new PostgresStore(url), url };
}

before(async () => {
  cluster = await startPostgres();
});
after(() => cluster.stop());

storeContract(
  'PostgresStore',
  async () => {
    const { store, url } = await freshStore();
    const others: PostgresStore[] = [];
    const other = (): PostgresStore => {
      const s = new PostgresStore(url);
      others.push(s);
      return s;
    };
    return { store, other, cleanup: async () => void (await Promise.all([store, ...others].map((s) => s.close()))) };
  },
  { leases: true, sessionEnds: true },
);

describe('PostgresStore database', () => {
  const stores: PostgresStore[] = [];
  const open = async (): Promise<{ store: PostgresStore; url: string }> => {
    const s = await freshStore();
    stores.push(s.store);
    return s;
  };
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  it('creates its schema on first use and records its version', async () => {
    const { store, url } = await open();
    assert.deepEqual(await store.list(), []);
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      const rows = await sql<{ version: number }[]>`SELECT version FROM mcp_rollout_schema`;
      assert.deepEqual(rows.map((r) => r.version), [DB_SCHEMA_VERSION]);
    } finally {
      await sql.end();
    }
  });

  it('refuses a database written by a newer mcp-rollout, naming it without the password, and changes nothing', async () => {
    const { store, url } = await open();
    await store.update('alpha', undefined, deployUpdate('alpha', '1.0.0'));
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      await sql`UPDATE mcp_rollout_schema SET version = ${DB_SCHEMA_VERSION + 1}`;
      const withPassword = url.replace('postgres@', 'postgres:s3cret@');
      const newer = new PostgresStore(withPassword);
      stores.push(newer);
      await assert.rejects(newer.list(), (e: unknown) => {
        assert.ok(e instanceof AppError && e.code === 'corrupt', String(e));
        assert.match(e.message, new RegExp(`schema ${DB_SCHEMA_VERSION + 1}, written by a newer mcp-rollout \\(this one reads up to ${DB_SCHEMA_VERSION}\\)`));
        assert.ok(e.message.includes(url.replace('postgres://', '')), e.message);
        assert.ok(!e.message.includes('s3cret'), e.message);
        return true;
      });
      const [v] = await sql<{ version: number }[]>`SELECT version FROM mcp_rollout_schema`;
      assert.equal(v!.version, DB_SCHEMA_VERSION + 1, 'the version row was left alone');
    } finally {
      await sql.end();
    }
  });

  it('appends every change to the log table in order, and nothing for an update that throws', async () => {
    const { store, url } = await open();
    await store.update('alpha', undefined, deployUpdate('alpha', '1.0.0'));
    await store.update('alpha', undefined, deployUpdate('alpha', '1.1.0'));
    await assert.rejects(store.update('alpha', undefined, () => { throw new AppError('conflict', 'no'); }));
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      const rows = await sql<{ scope: string; server: string; record: { event: string; version?: string } }[]>`SELECT scope, server, record FROM mcp_rollout_log ORDER BY id`;
      assert.deepEqual(rows.map((r) => [r.scope, r.server, r.record.event, r.record.version]), [
        ['project', 'alpha', 'mcp_server_registered', '1.0.0'],
        ['project', 'alpha', 'mcp_server_registered', '1.1.0'],
      ]);
    } finally {
      await sql.end();
    }
  });

  it('two stores on one database serialise creating the same server: both versions land', async () => {
    const { store, url } = await open();
    const other = new PostgresStore(url);
    stores.push(other);
    await Promise.all([store.update('fresh', undefined, deployUpdate('fresh', '1.0.0')), other.update('fresh', undefined, deployUpdate('fresh', '2.0.0'))]);
    const got = (await store.get('fresh'))!.server.versions.map((v) => v.version).sort();
    assert.deepEqual(got, ['1.0.0', '2.0.0']);
  });

  it('a committed write by another store reaches watch() as a cue', async () => {
    const { store, url } = await open();
    const writer = new PostgresStore(url);
    stores.push(writer);
    await writer.list();
    const cues: string[] = [];
    let listening!: () => void;
    const ready = new Promise<void>((resolve) => (listening = resolve));
    let next: (() => void) | undefined;
    const stop = store.watch(() => {
      cues.push('cue');
      listening();
      next?.();
    });
    try {
      await ready; // the first cue comes when the listener is connected
      const cue = (): Promise<void> => new Promise((resolve) => (next = resolve));
      const seen = cue();
      await writer.update('w', undefined, deployUpdate('w', '1.0.0'));
      await seen;
      assert.equal(cues.length, 2, 'one cue on connecting, one for the write');
      assert.equal((await store.get('w'))!.server.versions[0]!.version, '1.0.0');
    } finally {
      stop();
    }
  });

  it('a session end published before a watcher listens reaches it when it does (a router started since, or whose listener reconnected: NOTIFY has no replay), once', async () => {
    const { store, url } = await open();
    const later = new PostgresStore(url);
    stores.push(later);
    const digest = 'AbCdEfGhIjKlMnOpQrSt_-';
    await store.publishSessionEnd(digest);
    await store.publishSessionEnd('ZyXwVuTsRqPoNmLkJiHg_-');
    const heard: string[] = [];
    const stop = later.watchSessionEnds((d) => heard.push(d));
    try {
      for (let i = 0; heard.length < 2; i++) {
        assert.ok(i < 500, `the watcher never read the ends published before it listened: ${JSON.stringify(heard)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(heard, [digest, 'ZyXwVuTsRqPoNmLkJiHg_-'], 'in the order they ended');
      await store.publishSessionEnd(digest); // the same end again (a DELETE repeated): not heard twice
      await store.publishSessionEnd('third_end_of_a_session');
      for (let i = 0; !heard.includes('third_end_of_a_session'); i++) {
        assert.ok(i < 500, `the watcher never heard the third end: ${JSON.stringify(heard)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(heard, [digest, 'ZyXwVuTsRqPoNmLkJiHg_-', 'third_end_of_a_session']);
    } finally {
      stop();
    }
  });

  it('an unreachable database fails with an io error naming the URL without its password', async () => {
    const store = new PostgresStore('postgres://someone:hunter2@127.0.0.1:1/nothing', { connectTimeoutS: 5 });
    await assert.rejects(store.list(), (e: unknown) => {
      assert.ok(e instanceof AppError && e.code === 'io', String(e));
      assert.match(e.message, /database postgres:\/\/someone@127\.0\.0\.1:1\/nothing: /);
      assert.ok(!e.message.includes('hunter2'));
      return true;
    });
    await store.close();
  });
});
