/**
 * The Store contract: one suite every implementation must pass (the file store today, a database later).
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { toLogRecord } from '../../src/domain/deployment-log.js';
import { deploy } from '../../src/domain/registry-ops.js';
import type { ServerState, Transport } from '../../src/domain/types.js';
import { AppError } from '../../src/errors.js';
import type { Store, UpdateOutcome } from '../../src/state/store.js';

const t: Transport = { type: 'stdio', command: 'node', args: [], env: {} };

/** An update that deploys `version` of the server. */
export function deployUpdate(name: string, version: string, now = 1): (cur: ServerState | undefined) => UpdateOutcome<string> {
  return (cur) => {
    const r = deploy(cur, name, { version, transport: t }, now);
    return { server: r.server, log: r.changes.map((c) => toLogRecord(c, now)), value: version };
  };
}

export function storeContract(label: string, make: () => Promise<{ store: Store; cleanup(): Promise<void> }>): void {
  describe(`Store contract: ${label}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await make());
    });
    after(() => cleanup());

    it('starts empty', async () => {
      assert.deepEqual(await store.list(), []);
      assert.equal(await store.get('nope'), undefined);
    });

    it('creates a new server in the project scope by default, another in the scope asked for', async () => {
      const r = await store.update('alpha', undefined, deployUpdate('alpha', '1.0.0'));
      assert.equal(r.scope, 'project');
      assert.equal(r.value, '1.0.0');
      await store.update('beta', 'global', deployUpdate('beta', '1.0.0'));
      const all = await store.list();
      assert.deepEqual(all.map((s) => [s.server.name, s.scope]), [['alpha', 'project'], ['beta', 'global']]);
      assert.equal((await store.get('beta'))!.server.versions[0]!.status, 'blue');
    });

    it('writes an existing server where it lives, and refuses another scope', async () => {
      await store.update('beta', undefined, deployUpdate('beta', '1.1.0'));
      assert.equal((await store.get('beta'))!.server.versions.length, 2);
      await assert.rejects(store.update('beta', 'project', deployUpdate('beta', '1.2.0')), (e: unknown) => e instanceof AppError && e.code === 'conflict' && /beta/.test(e.message));
      assert.equal((await store.get('beta'))!.server.versions.length, 2);
    });

    it('an update that throws writes nothing', async () => {
      const beforeState = await store.get('alpha');
      await assert.rejects(store.update('alpha', undefined, () => { throw new AppError('conflict', 'no'); }), /no/);
      assert.deepEqual(await store.get('alpha'), beforeState);
    });

    it('an update with no log records writes nothing', async () => {
      const beforeState = await store.get('alpha');
      const r = await store.update('alpha', undefined, (cur) => ({ server: { ...cur!, versions: [] }, log: [], value: 42 }));
      assert.equal(r.value, 42);
      assert.deepEqual(await store.get('alpha'), beforeState);
    });

    it('the revision moves with every write and only then', async () => {
      const r0 = await store.revision();
      assert.equal(await store.revision(), r0, 'reading changes nothing');
      await store.update('alpha', undefined, (cur) => ({ server: { ...cur!, versions: [] }, log: [], value: 0 }));
      assert.equal(await store.revision(), r0, 'an update without log records writes nothing');
      await store.update('delta', undefined, deployUpdate('delta', '1.0.0'));
      const r1 = await store.revision();
      assert.notEqual(r1, r0);
      await store.update('delta', undefined, () => ({ server: undefined, log: [{ time: 'x', event: 'mcp_server_updated', server: 'delta' }], value: 0 }));
      assert.notEqual(await store.revision(), r1);
    });

    it('an undefined server deletes it', async () => {
      await store.update('gamma', undefined, deployUpdate('gamma', '1.0.0'));
      await store.update('gamma', undefined, () => ({ server: undefined, log: [{ time: 'x', event: 'mcp_server_updated', server: 'gamma' }], value: 0 }));
      assert.equal(await store.get('gamma'), undefined);
    });

    it('concurrent updates of one server lose nothing', async () => {
      const versions = Array.from({ length: 25 }, (_, i) => `3.0.${i}`);
      await Promise.all(versions.map((v) => store.update('delta', undefined, deployUpdate('delta', v))));
      const got = (await store.get('delta'))!.server.versions.map((v) => v.version).sort();
      assert.deepEqual(got, [...versions].sort());
    });
  });
}
