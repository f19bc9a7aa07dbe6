/**
 * server-everything in its Streamable HTTP mode on a free loopback port, as a real backend.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitForOutput } from './output.js';
import { freePort } from '../../src/free-port.js';

export { freePort };

export const EVERYTHING = fileURLToPath(new URL('../../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url));


export interface RunningBackend {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts server-everything (`mode` streamableHttp or sse) with `env` added, on `port` (default a free one); resolves once it listens. */
export async function startEverything(env: Record<string, string> = {}, mode: 'streamableHttp' | 'sse' = 'streamableHttp', port?: number): Promise<RunningBackend> {
  port ??= await freePort();
  const child = spawn(process.execPath, [EVERYTHING, mode], { env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(child, /listening on port|running on port/i);
  return {
    url: `http://127.0.0.1:${port}/${mode === 'sse' ? 'sse' : 'mcp'}`,
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
