/**
 * `mcp-rollout serve` as a real process on a given port, started and stopped the way an operator does
 * (SIGTERM: it finishes, ends its own backend processes, exits 0). Every test reaps what it starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { waitForOutput } from './output.js';
import { BIN_DIR } from './run-cli.js';

export interface ServeProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** SIGTERM, then its exit code (null when it was killed by a signal). */
  stop(): Promise<number | null>;
}

/** Starts serve on `port` with `args` added (and `opts.nodeArgs` before the script); resolves once it says it listens. */
export async function startServe(port: number, opts: { cwd: string; env: NodeJS.ProcessEnv; nodeArgs?: readonly string[] }, args: readonly string[] = []): Promise<ServeProcess> {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), join(BIN_DIR, 'mcp-rollout.js'), 'serve', '--port', String(port), ...args], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitForOutput(child, /listening on/);
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    throw e;
  }
  return {
    child,
    base: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
