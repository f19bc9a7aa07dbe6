import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toLogRecord } from '../../src/domain/deployment-log.js';
import { deploy } from '../../src/domain/registry-ops.js';
import { AppError } from '../../src/errors.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';
import { deployUpdate, storeContract } from './store-contract.js';

storeContract(
  'JsonFileStore',
  async () => {
    const p = await tempProject();
    const open = () => JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env });
    return { store: open(), other: open, cleanup: p.cleanup };
  },
  { leases: true },
);

const isCorrupt = (file: string, what: RegExp) => (e: unknown) =>
  e instanceof AppError && e.code === 'corrupt' && e.message.includes(file) && what.test(e.render());

describe('JsonFileStore files', () => {
  let p: TempProject;
  let store: JsonFileStore;
  before(async () => {
    p = await tempProject();
    store = JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env });
  });
  after(() => p.cleanup());

  it('writes the design record, a schema version and one log line per change', async () => {
    await store.update('w', undefined, deployUpdate('w', '1.0.0'));
    const doc = JSON.parse(await readFile(p.registryFile, 'utf8'));
    assert.equal(doc.schemaVersion, 1);
    assert.deepEqual(doc.servers.w.mcpVersionHistory, { versions: ['1.0.0'], currentBlue: '1.0.0', lastRollback: null, rollbackStack: [] });
    assert.equal(doc.servers.w.versions[0].trafficPercentage, 100);
    const lines = (await readFile(p.logFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.event), ['mcp_server_registered']);
  });

  for (const [label, text, what] of [
    ['invalid JSON', '{"schemaVersion": 1, "servers": {', /not valid JSON/],
    ['a sum other than 100', null, /traffic sums to 90%/],
    ['a newer schema', '{"schemaVersion": 99, "servers": {}}', /newer mcp-rollout/],
    ['a wrong field type', '{"schemaVersion": 1, "servers": {"w": {"versions": "no", "mcpVersionHistory": {}}}}', /servers\.w\.versions: must be an array/],
  ] as const) {
    it(`a file with ${label} is refused with one error naming it, and left byte for byte as it was`, async () => {
      const q = await tempProject();
      try {
        const s = JsonFileStore.forEnvironment({ cwd: q.dir, env: q.env });
        let broken = text as string | null;
        if (broken === null) {
          await s.update('w', undefined, deployUpdate('w', '1.0.0'));
          const doc = JSON.parse(await readFile(q.registryFile, 'utf8'));
          doc.servers.w.versions[0].trafficPercentage = 90;
          broken = JSON.stringify(doc);
        }
        await mkdir(join(q.dir, '.mcp-rollout'), { recursive: true });
        await writeFile(q.registryFile, broken);
        await assert.rejects(s.list(), isCorrupt(q.registryFile, what));
        await assert.rejects(s.update('x', undefined, deployUpdate('x', '1.0.0')), isCorrupt(q.registryFile, what));
        assert.equal(await readFile(q.registryFile, 'utf8'), broken);
      } finally {
        await q.cleanup();
      }
    });
  }

  it('a file holding env values is written with mode 0600', async () => {
    await store.update('secret', undefined, (cur) => {
      const r = deploy(cur, 'secret', { version: '1.0.0', transport: { type: 'stdio', command: 'x', args: [], env: { TOKEN: 'hunter2' } } }, 1);
      return { server: r.server, log: r.changes.map((c) => toLogRecord(c, 1)), value: 0 };
    });
    assert.equal((await stat(p.registryFile)).mode & 0o777, 0o600);
    assert.doesNotMatch(await readFile(p.logFile, 'utf8'), /hunter2/);
  });

  it('the mcprc scope keeps the other tools\' entries intact', async () => {
    const q = await tempProject();
    try {
      const theirs = { mcpServers: { other: { command: 'npx', args: ['-y', 'thing'] } }, theme: 'dark' };
      await writeFile(join(q.dir, '.mcprc'), JSON.stringify(theirs, null, 4));
      const s = JsonFileStore.forEnvironment({ cwd: q.dir, env: q.env });
      const r = await s.update('w', 'mcprc', deployUpdate('w', '1.0.0'));
      assert.equal(r.location, join(q.dir, '.mcprc'));
      const doc = JSON.parse(await readFile(join(q.dir, '.mcprc'), 'utf8'));
      assert.deepEqual(doc.mcpServers, theirs.mcpServers);
      assert.equal(doc.theme, 'dark');
      assert.equal(doc.mcpRollout.servers.w.versions[0].version, '1.0.0');
      assert.equal((await s.get('w'))!.scope, 'mcprc');
    } finally {
      await q.cleanup();
    }
  });

  it('one name in two scopes is an error naming both files', async () => {
    const q = await tempProject();
    try {
      const s = JsonFileStore.forEnvironment({ cwd: q.dir, env: q.env });
      await s.update('w', 'global', deployUpdate('w', '1.0.0'));
      // Copy the global file into the project scope by hand: now "w" lives twice.
      const globalFile = join(q.env.XDG_CONFIG_HOME!, 'mcp-rollout', 'registry.json');
      await mkdir(join(q.dir, '.mcp-rollout'), { recursive: true });
      await writeFile(q.registryFile, await readFile(globalFile));
      await assert.rejects(s.list(), (e: unknown) => e instanceof AppError && e.message.includes(globalFile) && e.message.includes(q.registryFile));
    } finally {
      await q.cleanup();
    }
  });

  it('keeps only the newest historyLimit entries per server', async () => {
    const q = await tempProject();
    try {
      await mkdir(join(q.dir, '.mcp-rollout'), { recursive: true });
      await writeFile(q.registryFile, JSON.stringify({ schemaVersion: 1, historyLimit: 3, servers: {} }));
      const s = JsonFileStore.forEnvironment({ cwd: q.dir, env: q.env });
      for (const v of ['1.0.0', '1.1.0', '1.2.0', '1.3.0']) await s.update('w', undefined, deployUpdate('w', v));
      const h = (await s.get('w'))!.server.history;
      assert.equal(h.length, 3);
      assert.equal(h[2]!.version, '1.3.0');
    } finally {
      await q.cleanup();
    }
  });

  it('takes over a lock left by a dead process, and times out on a live holder naming it', async () => {
    const q = await tempProject();
    try {
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
      await mkdir(join(q.dir, '.mcp-rollout'), { recursive: true });
      await writeFile(`${q.registryFile}.lock`, `${dead}\n${hostname()}\n`);
      const s = JsonFileStore.forEnvironment({ cwd: q.dir, env: q.env }, { lockTimeoutMs: 300 });
      await s.update('w', undefined, deployUpdate('w', '1.0.0'));
      await writeFile(`${q.registryFile}.lock`, `${process.pid}\n${hostname()}\n`);
      await assert.rejects(s.update('w', undefined, deployUpdate('w', '1.1.0')), (e: unknown) => e instanceof AppError && e.code === 'locked' && e.message.includes(`process ${process.pid}`));
      assert.equal((await s.get('w'))!.server.versions.length, 1);
    } finally {
      await q.cleanup();
    }
  });
});
