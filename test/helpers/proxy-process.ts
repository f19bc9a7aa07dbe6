/**
 * `mcp-rollout proxy <name>` as a real process spoken to line by line (raw JSON-RPC, so tests control ids and
 * bytes). The built CLI is found next to this compiled file, whatever the build's output directory.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { BIN_DIR } from './run-cli.js';

export type RawMessage = { jsonrpc?: string; id?: unknown; method?: string; result?: Record<string, unknown>; error?: { code: number; message: string } };

export interface ProxyProcess {
  child: ChildProcessWithoutNullStreams;
  /** Writes one line: a message (serialised) or a string as is. */
  send(m: unknown): void;
  /** The next message with this id (others stay queued); rejects after `ms` (default 10 s). */
  answer(id: unknown, ms?: number): Promise<RawMessage>;
  /** Everything the proxy wrote to stderr so far. */
  stderr(): string;
  /** SIGKILLs the proxy if it still runs and waits for its exit (for afterEach). */
  reap(): Promise<void>;
}

export function startProxy(server: string, args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): ProxyProcess {
  const child = spawn(process.execPath, [join(BIN_DIR, 'mcp-rollout.js'), 'proxy', server, ...args], { cwd: opts.cwd, env: opts.env, stdio: 'pipe' });
  let buf = '';
  let err = '';
  const messages: RawMessage[] = [];
  const wakers = new Set<() => void>();
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      messages.push(JSON.parse(buf.slice(0, nl)) as RawMessage);
      buf = buf.slice(nl + 1);
    }
    for (const w of wakers) w();
  });
  child.stdin.on('error', () => undefined); // the proxy may be gone already when a test writes
  return {
    child,
    send: (m) => void child.stdin.write(`${typeof m === 'string' ? m : JSON.stringify(m)}\n`),
    answer: async (id, ms = 10_000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = messages.findIndex((m) => m.id === id);
        if (i !== -1) return messages.splice(i, 1)[0]!;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no answer with id ${JSON.stringify(id)} within ${ms} ms; stderr: ${err}`);
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(t);
            wakers.delete(done);
            resolve();
          };
          const t = setTimeout(done, left);
          wakers.add(done);
        });
      }
    },
    stderr: () => err,
    reap: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    },
  };
}

export const INITIALIZE = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
