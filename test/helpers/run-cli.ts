/**
 * Runs the built CLI as a real process. The executable is found next to this compiled file, so tests work
 * whatever the build's output directory is.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN_DIR = fileURLToPath(new URL('../../src/cli/bin/', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (throws when it is not). */
  json<T = Record<string, unknown>>(): T;
}

/** Runs `mcp-<verb>` (or `mcp-rollout` when `bin` is "rollout") with `args` in `cwd`. */
export function runCli(bin: string, args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${BIN_DIR}mcp-${bin}.js`, ...args], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T }),
    );
  });
}
