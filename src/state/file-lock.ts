/**
 * An inter-process lock beside a file: `<file>.lock`, created exclusively, holding the owner's pid and host.
 * A lock whose owner process is gone (same host) is taken over; otherwise waiters retry with jitter until a
 * deadline, then fail with an error that names the lock and its holder.
 */
import { hostname } from 'node:os';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../errors.js';
import { isProcessAlive } from '../process-alive.js';

export interface LockOptions {
  /** How long to wait for the lock, in ms. Default 15000. */
  timeoutMs?: number;
}

/** Runs `fn` while holding the lock for `file`; the lock is released however `fn` ends. */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lockPath = `${file}.lock`;
  await mkdir(dirname(file), { recursive: true });
  await acquire(lockPath, opts.timeoutMs ?? 15_000);
  try {
    return await fn();
  } finally {
    await rm(lockPath, { force: true });
  }
}

async function acquire(lockPath: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const me = `${process.pid}\n${hostname()}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      try {
        await handle.writeFile(me);
      } finally {
        await handle.close();
      }
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new AppError('io', `cannot create lock file ${lockPath}: ${(e as Error).message}`);
      }
    }
    const holder = await readHolder(lockPath);
    if (holder && holder.host === hostname() && !isProcessAlive(holder.pid)) {
      // The holder died without releasing; remove its lock and try again at once.
      await rm(lockPath, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder ? `process ${holder.pid} on ${holder.host}` : 'another process';
      throw new AppError('locked', `timed out after ${timeoutMs} ms waiting for lock ${lockPath} held by ${who}`);
    }
    await sleep(Math.min(50, 2 + attempt) + Math.random() * 10);
  }
}

async function readHolder(lockPath: string): Promise<{ pid: number; host: string } | undefined> {
  try {
    const [pid, host] = (await readFile(lockPath, 'utf8')).split('\n');
    const n = Number(pid);
    // A lock file still being written has no pid yet: treat the holder as alive.
    return Number.isInteger(n) && n > 0 ? { pid: n, host: host ?? '' } : undefined;
  } catch {
    return undefined;
  }
}
