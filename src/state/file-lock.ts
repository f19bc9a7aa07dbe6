/**
 * An inter-process lock beside a file: `<file>.lock`, holding its owner's token (pid, host and a nonce unique
 * to this acquisition). Waiters retry with jitter; one holder keeping it past the deadline ends the wait with an
 * error that names the lock and its holder.
 *
 * A lock is only ever removed by its owner, or by a waiter that saw that very lock's owner dead (same host).
 * Seeing the owner dead and removing the file are two steps, and between them the lock may have been released
 * and taken by a live process; removing by name would then break the new owner's lock (two holders, a lost
 * update). So a waiter first claims the right to reap that one dead token, with an exclusively created marker
 * named after it (`<file>.lock.reap-<id>`): only one waiter ever holds it. Under the marker it reads the lock
 * again, and removes it only if it still holds the dead token: while a lock exists nobody else can replace it,
 * and its dead owner cannot release it, so the lock it reads is the lock it removes. A reaper that dies holding
 * its marker is reaped the same way, one level down.
 *
 * A lock file appears with its whole content at once (written aside, then hard-linked into place), so no
 * waiter ever sees a lock without an owner, and a holder killed while taking it leaves no ownerless lock.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { link, mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../errors.js';
import { isProcessAlive } from '../process-alive.js';

export interface LockOptions {
  /** How long one holder may keep the lock while we wait for it, in ms (the whole wait: ten times that). Default 15000. */
  timeoutMs?: number;
}

interface Holder {
  pid: number;
  host: string;
  /** The file's whole content: a token no other acquisition has. */
  token: string;
}

/**
 * Runs `fn` while holding the lock for `file`; the lock is released however `fn` ends. Throws AppError `locked`
 * when the lock is not had within `timeoutMs`, `io` when the lock file cannot be created.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lockPath = `${file}.lock`;
  await mkdir(dirname(file), { recursive: true });
  const token = `${process.pid}\n${hostname()}\n${randomBytes(12).toString('hex')}\n`;
  await acquire(lockPath, token, opts.timeoutMs ?? 15_000);
  try {
    return await fn();
  } finally {
    await releaseIfMine(lockPath, token);
  }
}

/**
 * Waits for the lock. `timeoutMs` bounds how long one holder may keep it while we wait, not the queue: behind
 * many short-lived writers (each holding it for milliseconds) a waiter waits its turn, and only a holder that
 * keeps the lock for `timeoutMs` (hung, or stopped) ends the wait. The whole wait is capped at ten times that.
 */
async function acquire(lockPath: string, token: string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  let seen: string | undefined;
  let since = started;
  for (let attempt = 0; ; attempt++) {
    if (await createExclusive(lockPath, token)) return;
    const holder = await readHolder(lockPath);
    // Gone since the attempt, or its owner is dead: try again at once.
    if (holder === 'gone' || (holder !== 'unknown' && (await reapIfDead(lockPath, holder)))) continue;
    const now = Date.now();
    const current = holder === 'unknown' ? 'unknown' : holder.token;
    if (current !== seen) [seen, since] = [current, now];
    if (now - since >= timeoutMs || now - started >= 10 * timeoutMs) {
      const who = holder === 'unknown' ? 'an unknown process (the file names no owner: remove it if no command is running)' : `process ${holder.pid} on ${holder.host}`;
      throw new AppError('locked', `gave up waiting for lock ${lockPath} after ${now - started} ms: held by ${who} for the last ${now - since} ms`);
    }
    await sleep(Math.min(50, 2 + attempt) + Math.random() * 10);
  }
}

/** Creates `path` holding `content`, complete from its first moment; false when it exists already. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const aside = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(aside, content, { mode: 0o600 });
    await link(aside, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new AppError('io', `cannot create lock file ${path}: ${(e as Error).message}`);
  } finally {
    await rm(aside, { force: true });
  }
}

/**
 * Removes the lock at `path` if `holder` (what was read there) is a dead process on this host, and nobody else
 * reaps it; true when the lock seen is gone (so trying again makes sense), false while its owner may be alive.
 */
async function reapIfDead(path: string, holder: Holder): Promise<boolean> {
  if (holder.host !== hostname() || isProcessAlive(holder.pid)) return false;
  const marker = `${path}.reap-${createHash('sha256').update(holder.token).digest('hex').slice(0, 24)}`;
  const me = `${process.pid}\n${hostname()}\n${randomBytes(12).toString('hex')}\n`;
  for (;;) {
    if (await createExclusive(marker, me)) break;
    const reaper = await readHolder(marker);
    if (reaper === 'gone') continue; // the other reaper has just finished: the lock is gone or not the dead one's
    // Another waiter is reaping it: look again later (or reap that waiter's marker, if it died on the way).
    if (reaper === 'unknown' || !(await reapIfDead(marker, reaper))) return false;
  }
  try {
    if (await holds(path, holder.token)) await unlink(path).catch(() => undefined);
    return true;
  } finally {
    await releaseIfMine(marker, me);
  }
}

/** Removes the lock at `path` when it still holds `token` (a lock reaped from a holder taken for dead is left alone). */
async function releaseIfMine(path: string, token: string): Promise<void> {
  if (await holds(path, token)) await unlink(path).catch(() => undefined);
}

const holds = async (path: string, token: string): Promise<boolean> => {
  const h = await readHolder(path);
  return typeof h === 'object' && h.token === token;
};

/** The owner named in the lock file at `path`; `gone` when there is none, `unknown` when it names nobody. */
async function readHolder(path: string): Promise<Holder | 'gone' | 'unknown'> {
  let token: string;
  try {
    token = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    return 'unknown';
  }
  const [pid, host] = token.split('\n');
  const n = Number(pid);
  return Number.isInteger(n) && n > 0 ? { pid: n, host: host ?? '', token } : 'unknown';
}
