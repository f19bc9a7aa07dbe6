/**
 * Atomic file replacement: write a temp file in the same directory, fsync it, rename it over the target,
 * fsync the directory. Readers see the old file or the new one, never a mix.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Writes `text` to `file` atomically with the given permission `mode` (for example 0o600). */
export async function writeFileAtomic(file: string, text: string, mode: number): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(text);
      await handle.chmod(mode); // the umask may have narrowed or widened nothing, but be exact
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
