/**
 * Many CLI processes writing at once: no lost update, never an invalid file, traffic always sums to 100.
 */
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { checkServer } from '../../src/domain/invariants.js';
import { parseDocument } from '../../src/state/registry-document.js';
import { runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

describe('concurrent CLI processes', () => {
  let p: TempProject;
  before(async () => {
    p = await tempProject();
  });
  after(() => p.cleanup());

  const run = (...args: string[]) => runCli('rollout', args, { cwd: p.dir, env: p.env });
  const readDoc = async () => {
    const parsed = parseDocument(JSON.parse(await readFile(p.registryFile, 'utf8')));
    assert.ok(parsed.ok, JSON.stringify(parsed));
    return parsed.value;
  };

  it('48 processes at once: 24 new servers and 24 versions of one server all land', async () => {
    assert.equal((await run('deploy', 'shared', '1.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node')).code, 0);
    const jobs = [
      ...Array.from({ length: 24 }, (_, i) => run('deploy', `s${i}`, '1.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node')),
      ...Array.from({ length: 24 }, (_, i) => run('deploy', 'shared', `2.0.${i}`, '--skip-validation', '--type', 'stdio', '--command', 'node', '--traffic', '2')),
    ];
    const results = await Promise.all(jobs);
    results.forEach((r) => assert.equal(r.code, 0, r.stderr));
    const doc = await readDoc();
    assert.equal(Object.keys(doc.servers).length, 25);
    const shared = doc.servers.shared!;
    assert.equal(shared.versions.length, 25);
    assert.deepEqual(checkServer(shared), []);
    assert.equal(shared.versions.reduce((a, v) => a + v.trafficPercentage, 0), 100);
    const log = (await readFile(p.logFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    assert.equal(log.filter((l) => l.event === 'mcp_server_registered').length, 49);
  });

  it('24 traffic changes at once keep every invariant and each one is recorded', async () => {
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => run('traffic', 'shared', `2.0.${i}`, String(1 + (i % 4)), '--json')));
    results.forEach((r) => assert.equal(r.code, 0, r.stderr));
    const doc = await readDoc();
    const shared = doc.servers.shared!;
    assert.deepEqual(checkServer(shared), []);
    // Each process saw its own version set to exactly its value at the moment it wrote.
    results.forEach((r, i) => {
      const out = r.json<{ server: { versions: { version: string; trafficPercentage: number }[] } }>();
      assert.equal(out.server.versions.find((v) => v.version === `2.0.${i}`)!.trafficPercentage, 1 + (i % 4));
    });
  });
});
