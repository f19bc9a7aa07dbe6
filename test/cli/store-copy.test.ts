/**
 * `mcp-rollout store copy` as real processes: a project's files to a database (servers, history and log kept),
 * a database to another, and a refusal that names the servers the target already holds and writes nothing.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const DEPLOY = ['--skip-validation', '--type', 'stdio', '--command', 'node'];

describe('store copy', { timeout: 120_000 }, () => {
  let cluster: PgCluster;
  let p: TempProject;
  before(async () => {
    cluster = await startPostgres();
    p = await tempProject();
    const cli = async (bin: string, args: string[]): Promise<void> => {
      const r = await runCli(bin, args, { cwd: p.dir, env: p.env });
      assert.equal(r.code, 0, r.stderr);
    };
    await cli('deploy', ['weather', '1.0.0', ...DEPLOY]);
    await cli('deploy', ['weather', '1.1.0', ...DEPLOY, '--traffic', '10']);
    await cli('rollback', ['weather', '1.1.0', '--reason', 'errors']);
    await cli('deploy', ['files', '2.0.0', ...DEPLOY]);
  });
  after(async () => {
    await p.cleanup();
    await cluster.stop();
  });
  const status = async (store?: string): Promise<unknown> => {
    const r = await runCli('status', ['--json', ...(store ? ['--store', store] : [])], { cwd: p.dir, env: p.env });
    assert.equal(r.code, 0, r.stderr);
    // Where each server lives differs by design (the file, the database); everything else must not.
    const doc = r.json<{ servers: { location?: string }[] }>();
    for (const s of doc.servers) delete s.location;
    return doc;
  };

  it('copies a project to a database, then that database to another; the servers read back the same, log included', async () => {
    const [one, two] = [await cluster.createDatabase('one'), await cluster.createDatabase('two')];
    const copied = await runCli('rollout', ['store', 'copy', '--from', '.', '--to', one, '--json'], { cwd: p.dir, env: p.env });
    assert.equal(copied.code, 0, copied.stderr);
    const lines = readFileSync(p.logFile, 'utf8').trim().split('\n').length;
    assert.deepEqual(copied.json(), { ok: true, from: p.dir, to: one, servers: ['files', 'weather'], logRecords: lines, keyRing: 'none' });
    const onFiles = await status();
    assert.deepEqual(await status(one), onFiles);
    const again = await runCli('rollout', ['store', 'copy', '--from', one, '--to', two], { cwd: p.dir, env: p.env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /copied files, weather \(\d+ log records\)/);
    assert.deepEqual(await status(two), onFiles);
    const history = await runCli('history', ['weather', '--json', '--store', two], { cwd: p.dir, env: p.env });
    const fileHistory = await runCli('history', ['weather', '--json'], { cwd: p.dir, env: p.env });
    assert.deepEqual(history.json(), fileHistory.json());
    const sql = postgres(two, { max: 1, onnotice: () => undefined });
    try {
      const [row] = await sql<{ n: string }[]>`SELECT count(*)::text AS n FROM mcp_rollout_log`;
      assert.equal(Number(row!.n), lines);
    } finally {
      await sql.end();
    }
  });

  it('refuses a target that holds a server of the same name, naming it, and writes nothing', async () => {
    const url = await cluster.createDatabase('taken');
    const first = await runCli('deploy', ['weather', '9.0.0', ...DEPLOY, '--store', url], { cwd: p.dir, env: p.env });
    assert.equal(first.code, 0, first.stderr);
    const before = await status(url);
    const r = await runCli('rollout', ['store', 'copy', '--from', p.dir, '--to', url], { cwd: p.dir, env: p.env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already holds "weather"; nothing was copied/);
    assert.deepEqual(await status(url), before, '"files" was not copied either');
  });

  it('copies from the registry file itself, with the deployment log beside it', async () => {
    const url = await cluster.createDatabase('fromfile');
    // Before: "cannot read registry file …/registry.json/.mcp-rollout/registry.json: ENOTDIR".
    const r = await runCli('rollout', ['store', 'copy', '--from', p.registryFile, '--to', url, '--json'], { cwd: p.dir, env: p.env });
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(p.logFile, 'utf8').trim().split('\n').length;
    assert.deepEqual(r.json(), { ok: true, from: p.registryFile, to: url, servers: ['files', 'weather'], logRecords: lines, keyRing: 'none' });
    assert.deepEqual(await status(url), await status());
  });

  it('a source that does not exist, and a target that is no URL, are refused naming the option given', async () => {
    const url = await cluster.createDatabase('typo');
    // Before: exit 0, "nothing to copy: /…/no-such-dir holds no server".
    const typo = await runCli('rollout', ['store', 'copy', '--from', 'no-such-dir', '--to', url], { cwd: p.dir, env: p.env });
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /--from \S*no-such-dir: no such file or directory; nothing was copied/);
    // Before: '--store "." is not a PostgreSQL URL', an option this command does not have.
    const back = await runCli('rollout', ['store', 'copy', '--from', url, '--to', '.'], { cwd: p.dir, env: p.env });
    assert.equal(back.code, 2);
    assert.match(back.stderr, /--to "\." is not a PostgreSQL URL/);
  });

  it('carries the project\'s session key ring to a database that has none, so routers moved onto it open the ids issued before; a database with a ring keeps its own', async () => {
    const project = await tempProject();
    try {
      assert.equal((await runCli('deploy', ['keyed', '1.0.0', ...DEPLOY], { cwd: project.dir, env: project.env })).code, 0);
      // What the first serve of the project makes; rotate makes it just the same.
      assert.equal((await runCli('rollout', ['keys', 'rotate'], { cwd: project.dir, env: project.env })).code, 0);
      const ring = JSON.parse(readFileSync(join(project.dir, '.mcp-rollout', 'keys.json'), 'utf8')) as { current: { id: string } };
      const fresh = await cluster.createDatabase('keys_fresh');
      const r = await runCli('rollout', ['store', 'copy', '--from', '.', '--to', fresh], { cwd: project.dir, env: project.env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /its session key ring too/);
      // Before: the database made a ring of its own at its first serve, and every open session got 404 after the move.
      const sql = postgres(fresh, { max: 1, onnotice: () => undefined });
      try {
        const [row] = await sql<{ id: string }[]>`SELECT ring->'current'->>'id' AS id FROM mcp_rollout_keys WHERE id = 1`;
        assert.equal(row?.id, ring.current.id);
      } finally {
        await sql.end();
      }

      const owned = await cluster.createDatabase('keys_owned');
      assert.equal((await runCli('rollout', ['keys', 'rotate', '--store', owned], { cwd: project.dir, env: project.env })).code, 0);
      const kept = await runCli('rollout', ['store', 'copy', '--from', '.', '--to', owned, '--json'], { cwd: project.dir, env: project.env });
      assert.equal(kept.code, 0, kept.stderr);
      assert.equal(kept.json<{ keyRing: string }>().keyRing, 'kept');
    } finally {
      await project.cleanup();
    }
  });
});
