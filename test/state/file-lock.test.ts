/**
 * The file lock: one holder at a time, also while many waiters race to take over a dead holder's lock, and a
 * lock is only removed by the one who saw its own owner die.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../../src/errors.js';
import { withFileLock } from '../../src/state/file-lock.js';

/** The pid of a process that has exited (and been reaped). */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;

describe('withFileLock', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcp-rollout-lock-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /**
   * Runs `n` holders on `file`, arriving a few turns of the event loop apart (so some read the lock while
   * another takes it over), each holding it for a millisecond. Returns the most seen inside at once.
   */
  const contend = async (file: string, n: number): Promise<{ most: number; done: number }> => {
    let inside = 0;
    let most = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        for (let k = 0; k < (i * 3) % 7; k++) await tick();
        await withFileLock(file, async () => {
          inside++;
          most = Math.max(most, inside);
          await sleep(1);
          inside--;
          done++;
        });
      }),
    );
    return { most, done };
  };

  it('waiters racing for a dead holder\'s lock: exactly one holds it at a time', async () => {
    for (let round = 0; round < 10; round++) {
      const file = join(dir, `race-${round}.json`);
      await writeFile(`${file}.lock`, `${deadPid()}\n${hostname()}\n`);
      const { most, done } = await contend(file, 24);
      assert.equal(done, 24);
      assert.equal(most, 1, `round ${round}: ${most} holders at once`);
    }
  });

  it('a reaper that died holding its marker is reaped in turn, and no marker or temporary file is left', async () => {
    const file = join(dir, 'reaper.json');
    const dead = `${deadPid()}\n${hostname()}\n`;
    await writeFile(`${file}.lock`, dead);
    const marker = `${file}.lock.reap-${createHash('sha256').update(dead).digest('hex').slice(0, 24)}`;
    await writeFile(marker, `${deadPid()}\n${hostname()}\nx\n`);
    const { most, done } = await contend(file, 8);
    assert.deepEqual({ most, done }, { most: 1, done: 8 });
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('reaper.json')), []);
  });

  it('a lock naming no owner is not taken over: the wait ends naming the lock', async () => {
    const file = join(dir, 'empty.json');
    await writeFile(`${file}.lock`, '');
    await assert.rejects(
      withFileLock(file, () => Promise.resolve(), { timeoutMs: 200 }),
      (e: unknown) => e instanceof AppError && e.code === 'locked' && e.message.includes(`${file}.lock`) && /names no owner/.test(e.message),
    );
  });

  it('a lock held by a live process is waited for, then given up naming its holder', async () => {
    const file = join(dir, 'live.json');
    await writeFile(`${file}.lock`, `${process.pid}\n${hostname()}\nother\n`);
    await assert.rejects(
      withFileLock(file, () => Promise.resolve(), { timeoutMs: 200 }),
      (e: unknown) => e instanceof AppError && e.code === 'locked' && e.message.includes(`process ${process.pid} on ${hostname()}`),
    );
  });
});
