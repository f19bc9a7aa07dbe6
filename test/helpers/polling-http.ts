/**
 * The polling fixture (fixtures/servers/polling-http-server.mjs: an SDK v1 Streamable HTTP server whose `wait`
 * tool answers by SSE polling) as a real backend for tests.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const POLLING = fileURLToPath(new URL('../../../test/fixtures/servers/polling-http-server.mjs', import.meta.url));

export interface PollingServer {
  url: string;
  /** How many answer streams it closed before their answers, and how many GETs with Last-Event-ID it got. */
  closes(): Promise<number>;
  resumes(): Promise<number>;
  /** Lets held `wait` calls answer; resolves with how many there were. */
  release(): Promise<number>;
  /** SIGTERM; resolves once it exited. */
  stop(): Promise<void>;
}

/** Starts the fixture on a free port; `env`: TAG (named in answers), EXTRA=1 (an `alerts` tool), RETRY_MS, GREET_MS. */
export async function pollingServer(env: Record<string, string> = {}): Promise<PollingServer> {
  const child = spawn(process.execPath, [POLLING], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (c) => reject(new Error(`polling server exited with ${c}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  const read = async (path: string): Promise<number> => Number(await (await fetch(base + path)).text());
  return {
    url: `${base}/mcp`,
    closes: () => read('/closes'),
    resumes: () => read('/resumes'),
    release: () => read('/release'),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
