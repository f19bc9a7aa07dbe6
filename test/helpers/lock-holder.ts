/**
 * A process that takes the file lock of the file named by argv[2], says `held` on stdout, and holds it until
 * it is killed: the holder a test SIGKILLs while CLI writers wait for the lock.
 */
import { withFileLock } from '../../src/state/file-lock.js';

await withFileLock(process.argv[2]!, () => {
  process.stdout.write('held\n');
  return new Promise<never>(() => setInterval(() => undefined, 60_000));
});
