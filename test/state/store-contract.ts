/**
 * The Store contract: one suite every implementation must pass (files, database, memory), and the rollout
 * lease cases for every store that keeps leases (files, database): a lease is held by one holder until it runs
 * out, and of several holders racing for a run-out lease exactly one gets it. Stores that share session ends
 * (database, memory): a digest published through one reaches every watcher, the publisher's own included.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { toLogRecord } from '../../src/domain/deployment-log.js';
import { deploy } from '../../src/domain/registry-ops.js';
import type { RolloutDriver, ServerState, Transport } from '../../src/domain/types.js';
import { AppError } from '../../src/errors.js';
import { rolloutLeasesOf, type RolloutLeaseStore } from '../../src/state/fleet-store.js';
import type { SessionEndStore, Store, UpdateOutcome } from '../../src/state/store.js';

const t: Transport = { type: 'stdio', command: 'node', args: [], env: {} };

/** An update that deploys `version` of the server. */
export function deployUpdate(name: string, version: string, now = 1): (cur: ServerState | undefined) => UpdateOutcome<string> {
  return (cur) => {
    const r = deploy(cur, name, { version, transport: t }, now);
    return { server: r.server, log: r.changes.map((c) => toLogRecord(c, now)), value: version };
  };
}

/** Resolves once the lease on `server` has run out by the store's clock (asked, not slept for). */
async function leaseRunOut(store: RolloutLeaseStore, server: string): Promise<void> {
  for (;;) {
    const l = await store.lease(server);
    if (!l || l.remainingMs <= 0) return;
    await new Promise((r) => setTimeout(r, Math.ceil(l.remainingMs)));
  }
}

const A: RolloutDriver = { pid: 101, host: 'host-a' };
const B: RolloutDriver = { pid: 101, host: 'host-b' };

/**
 * `make` gives a fresh store, and `other` a second store over the same state (another process or host);
 * `opts.leases`: the store keeps rollout leases, and the lease cases run against it; `opts.sessionEnds`: it
 * shares session ends (store.ts SessionEndStore).
 */
export function storeContract(
  label: string,
  make: () => Promise<{ store: Store; other?: () => Store; cleanup(): Promise<void> }>,
  opts: { leases?: boolean; sessionEnds?: boolean } = {},
): void {
  describe(`Store contract: ${label}`, () => {
    let store: Store;
    let other: (() => Store) | undefined;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, other, cleanup } = await make());
    });
    after(() => cleanup());

    if (opts.leases) {
      const leasesOf = (s: Store): RolloutLeaseStore => {
        const l = rolloutLeasesOf(s);
        assert.ok(l, `${label} keeps rollout leases`);
        return l;
      };

      it('a lease is held by one holder until it runs out; then another takes it and the first can no longer renew', async () => {
        const one = leasesOf(store);
        const two = leasesOf(other?.() ?? store);
        assert.equal(await one.acquireLease('w', A, 400), true, 'nobody held it');
        assert.equal(await two.acquireLease('w', B, 400), false, 'A holds it');
        assert.equal(await one.acquireLease('w', A, 400), true, 'the holder takes it again');
        assert.equal(await one.renewLease('w', A, 400), true);
        assert.deepEqual((await two.lease('w'))?.holder, A);
        await leaseRunOut(two, 'w');
        assert.equal(await one.renewLease('w', A, 60_000), false, 'a lease that ran out is not renewed (it may be another\'s already)');
        assert.equal(await two.acquireLease('w', B, 60_000), true, 'B takes the run-out lease');
        assert.equal(await one.acquireLease('w', A, 60_000), false);
        assert.equal(await one.renewLease('w', A, 60_000), false);
        await one.releaseLease('w', A); // not A's: left alone
        assert.deepEqual((await one.lease('w'))?.holder, B);
        await two.releaseLease('w', B);
        assert.equal(await one.lease('w'), undefined);
      });

      it('of eight holders racing for a run-out lease exactly one gets it', async () => {
        const one = leasesOf(store);
        const two = leasesOf(other?.() ?? store);
        assert.equal(await one.acquireLease('race', A, 1), true);
        await leaseRunOut(one, 'race');
        const holders = Array.from({ length: 8 }, (_, i) => ({ pid: 200 + i, host: `host-${i}` }));
        const won = await Promise.all(holders.map((h, i) => (i % 2 ? one : two).acquireLease('race', h, 60_000)));
        assert.equal(won.filter(Boolean).length, 1, `winners: ${JSON.stringify(won)}`);
        assert.deepEqual((await one.lease('race'))?.holder, holders[won.indexOf(true)]);
      });
    }

    if (opts.sessionEnds) {
      it('a session end published through one store reaches the watchers of every store on the same state, its own included', async () => {
        const ends = (s: Store): SessionEndStore => {
          assert.ok(s.publishSessionEnd && s.watchSessionEnds, `${label} shares session ends`);
          return s as SessionEndStore;
        };
        const one = ends(store);
        const two = ends(other?.() ?? store);
        const heard: [string[], string[]] = [[], []];
        const stops = [one.watchSessionEnds((d) => heard[0].push(d)), two.watchSessionEnds((d) => heard[1].push(d))];
        try {
          // A watcher's listener comes up in its own time (a LISTEN on a database): a warm-up notice, sent again
          // until both heard it, says both are listening.
          for (let i = 0; !heard.every((h) => h.includes('warmupwarmupwarmupwarm')); i++) {
            assert.ok(i < 250, `the watchers never heard the warm-up: ${JSON.stringify(heard)}`);
            await one.publishSessionEnd('warmupwarmupwarmupwarm');
            await new Promise((r) => setTimeout(r, 20));
          }
          const digest = 'AbCdEfGhIjKlMnOpQrSt_-';
          await one.publishSessionEnd(digest);
          for (let i = 0; !heard.every((h) => h.includes(digest)); i++) {
            assert.ok(i < 250, `not every watcher heard ${digest}: ${JSON.stringify(heard)}`);
            await new Promise((r) => setTimeout(r, 20));
          }
          assert.deepEqual(heard.map((h) => h.filter((d) => d === digest).length), [1, 1], 'once each');
        } finally {
          stops.forEach((stop) => stop());
        }
      });
    }

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
