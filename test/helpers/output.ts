/**
 * Waiting for a child process to say it is ready.
 */
import type { ChildProcess } from 'node:child_process';

/**
 * Resolves once the child's stdout and stderr together match `ready`; rejects, with what it said, if it exits
 * first. From then on its output is read and dropped, not kept: a server that logs a line per request would
 * otherwise grow a string that is searched again on every chunk, costing the waiting process more and more CPU
 * (and a pipe that is not read would stop the child once full).
 */
export function waitForOutput(child: ChildProcess, ready: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const look = (d: Buffer): void => {
      out += d.toString();
      if (!ready.test(out)) return;
      child.stdout?.off('data', look).resume();
      child.stderr?.off('data', look).resume();
      child.off('exit', exited);
      resolve();
    };
    const exited = (code: number | null): void => reject(new Error(`${child.spawnargs.join(' ')} exited with ${code}: ${out}`));
    child.stdout?.on('data', look);
    child.stderr?.on('data', look);
    child.once('exit', exited);
  });
}
