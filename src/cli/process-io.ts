/**
 * The real process as CLI input/output, and the one place that sets the process's exit code.
 */
import type { CliIo } from './command.js';
import { runCli } from './run.js';

export function processIo(): CliIo {
  const interrupt = new AbortController();
  // The first Ctrl-C (or SIGTERM) asks long-running commands to stop cleanly; a second Ctrl-C ends the process.
  process.once('SIGINT', () => {
    interrupt.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  process.once('SIGTERM', () => interrupt.abort());
  return {
    signal: interrupt.signal,
    streams: { stdin: process.stdin, stdout: process.stdout },
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    isTTY: process.stdout.isTTY === true,
    env: process.env,
    cwd: process.cwd(),
  };
}

/** Entry point of every executable: `prefix` names the subcommand for `mcp-<verb>` executables. */
export function main(prefix: readonly string[] = []): void {
  runCli([...prefix, ...process.argv.slice(2)], processIo()).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      // A bug, not a user error: show the stack so it can be reported.
      process.stderr.write(`mcp-rollout: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
