/**
 * The file store's key ring: `keys.json` in the project's state directory, beside the registry, readable by its
 * owner only (mode 0600: whoever reads it can read and forge every session id). Made under the file lock by
 * whichever process needs it first, so two routers starting together never make two rings; rotated under the
 * same lock and replaced atomically, so a reader sees the old ring or the new one.
 */
import { readFile } from 'node:fs/promises';
import { AppError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { withFileLock } from './file-lock.js';
import { newKeyRing, parseKeyRing, rotatedKeyRing, type KeyRing } from './key-ring.js';

/** The ring in `file`, or undefined when there is none. Throws AppError `io` or `corrupt` naming the file. */
export async function readKeyRingFile(file: string): Promise<KeyRing | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AppError('io', `cannot read key ring ${file}: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new AppError('corrupt', `key ring ${file} is not valid JSON (${(e as Error).message}); remove it to make a new one (open session ids then stop opening)`);
  }
  const parsed = parseKeyRing(data);
  if (!parsed.ok) throw new AppError('corrupt', `key ring ${file} is invalid; remove it to make a new one (open session ids then stop opening):`, parsed.errors);
  return parsed.value;
}

/** The ring in `file`, made there first when absent. */
export async function ensureKeyRingFile(file: string, lockTimeoutMs?: number): Promise<KeyRing> {
  const found = await readKeyRingFile(file);
  if (found) return found;
  return withFileLock(file, async () => (await readKeyRingFile(file)) ?? write(file, newKeyRing()), lockOpts(lockTimeoutMs));
}

/** Rotates the ring in `file` (see rotatedKeyRing) and returns the new one. */
export async function rotateKeyRingFile(file: string, lockTimeoutMs?: number): Promise<KeyRing> {
  return withFileLock(file, async () => write(file, rotatedKeyRing(await readKeyRingFile(file))), lockOpts(lockTimeoutMs));
}

async function write(file: string, ring: KeyRing): Promise<KeyRing> {
  try {
    await writeFileAtomic(file, JSON.stringify(ring, null, 2) + '\n', 0o600);
  } catch (e) {
    throw new AppError('io', `cannot write key ring ${file}: ${(e as Error).message}`);
  }
  return ring;
}

const lockOpts = (timeoutMs: number | undefined): { timeoutMs?: number } => (timeoutMs === undefined ? {} : { timeoutMs });
