/**
 * The file lock under real CLI processes: many short-lived writers at once (each holder exits right after it
 * releases, which is when a waiter that read its pid could take it for a dead holder), and writers waiting
 * while the holder is SIGKILLed. No update is lost and traffic sums to 100.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { checkServer } from '../../src/domain/invariants.js';
import { parseDocument } from '../../src/state/registry-document.js';
import { waitForOutput } from '../helpers/output.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const HOLDER = fileURLToPath(new URL('../helpers/lock-holder.js', import.meta.url));

describe('the registry lock under concurrent CLI writers', () => {
  let p: TempProject;
  before(async () => {
    p = await tempProject();
  });
  after(() => p.cleanup());

  const deploy = (server: string, version: string, ...extra: string[]): Promise<CliResult> =>
    runCli('deploy', [server, version, '--skip-validation', '--type', 'stdio', '--command', 'node', ...extra], { cwd: p.dir, env: p.env });

  /** Every version of `server` landed, the invariants hold, traffic sums to 100. */
  const assertAllLanded = async (server: string, versions: number): Promise<void> => {
    const parsed = parseDocument(JSON.parse(await readFile(p.registryFile, 'utf8')));
    assert.ok(parsed.ok, JSON.stringify(parsed));
    const s = parsed.value.servers[server]!;
    assert.equal(s.versions.length, versions, `${server}: ${s.versions.length} of ${versions} versions landed`);
    assert.deepEqual(checkServer(s), []);
    assert.equal(s.versions.reduce((a, v) => a + v.trafficPercentage, 0), 100);
  };

  it('100 writers at once, two rounds: every deploy lands', async () => {
    for (let round = 0; round < 2; round++) {
      const server = `race${round}`;
      assert.equal((await deploy(server, '1.0.0')).code, 0);
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => deploy(server, `2.0.${i}`, '--traffic', '0')));
      results.forEach((r) => assert.equal(r.code, 0, r.stderr));
      await assertAllLanded(server, 101);
    }
  });

  it('50 writers wait while holders are SIGKILLed, five times: each dead holder\'s lock is taken over once, every deploy lands', async () => {
    assert.equal((await deploy('killed', '1.0.0')).code, 0);
    /** Starts a process that waits for the lock like the writers, and SIGKILLs it as soon as it holds it. */
    const killWhenHeld = async (): Promise<void> => {
      const holder = spawn(process.execPath, [HOLDER, p.registryFile], { stdio: ['ignore', 'pipe', 'inherit'] });
      await waitForOutput(holder, /held/);
      const gone = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await gone;
    };
    await killWhenHeld(); // the writers start behind a lock whose holder is gone
    const writers = Array.from({ length: 50 }, (_, i) => deploy('killed', `2.0.${i}`, '--traffic', '0'));
    // Holders that join the queue and die holding the lock while the writers wait behind them.
    for (let k = 0; k < 4; k++) await killWhenHeld();
    const results = await Promise.all(writers);
    results.forEach((r) => assert.equal(r.code, 0, r.stderr));
    await assertAllLanded('killed', 51);
    // A last holder may have died after every writer was done; one more write takes its lock over.
    assert.equal((await deploy('killed', '3.0.0', '--traffic', '0')).code, 0);
    const left = (await readdir(dirname(p.registryFile))).filter((f) => f.includes('.lock'));
    assert.deepEqual(left, [], 'no lock, reaper marker or temporary lock file is left');
  });
});
