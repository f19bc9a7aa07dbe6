/**
 * The example weather server (examples/weather-server.mjs: v1 has current and forecast, v2 adds alerts, v3 fails
 * a share of its calls, faulty answers every other tool call with isError; every answer names its variant) over
 * Streamable HTTP, as a real backend for tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/free-port.js';

export const WEATHER = fileURLToPath(new URL('../../../examples/weather-server.mjs', import.meta.url));

export interface Weather {
  url: string;
  port: number;
  child: ChildProcess;
  /** SIGTERM (if it still runs); resolves once it exited. */
  stop(): Promise<void>;
}

/** Starts variant `variant` on `port` (a free one by default); resolves once it listens, rejects if it exits first. */
export async function weatherHttp(variant: string, port?: number): Promise<Weather> {
  const p = port ?? (await freePort());
  const child = spawn(process.execPath, [WEATHER, variant, '--http', String(p)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`weather ${variant} exited with ${c}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `http://127.0.0.1:${p}/mcp`,
    port: p,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
