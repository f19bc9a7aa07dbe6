/**
 * The MCP stdio shutdown, run step by step so the gate can say which step ended the server: the client closes
 * the server's stdin and waits; if the server has not exited, SIGTERM, and waits; then SIGKILL. A server that
 * exits at either of the first two steps shuts down as the specification asks (many real servers keep timers
 * or pools alive after stdin closes and rely on SIGTERM); one that needs SIGKILL does not.
 *
 * The SDK's StdioClientTransport.close() runs the same sequence (2 s per step) but does not tell which step
 * ended the process, and it checks `exitCode` only, so it signals a process that SIGTERM already ended. Hence
 * the sequence here, on the child the transport spawned.
 */
import type { ChildProcess } from 'node:child_process';
import type { Transport as SdkTransport } from '@modelcontextprotocol/client';

/** Which step ended the server: its stdin closing, SIGTERM, SIGKILL; or it had exited before shutdown began. */
export type ShutdownStep = 'stdin' | 'SIGTERM' | 'SIGKILL' | 'already-exited';

export interface ShutdownOutcome {
  step: ShutdownStep;
  /** ms from stdin closing to the exit (0 when the server had already exited). */
  afterMs: number;
  /** ms from the signal that ended it to the exit (SIGTERM, SIGKILL steps). */
  afterSignalMs?: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The child process behind an SDK stdio transport, or undefined (another transport, or an SDK that no longer
 * keeps it). The SDK keeps it private; its own version negotiation reads the transport's private fields the
 * same structural way. Read it while the process runs: the transport forgets it once the process is closed.
 */
export function childOf(transport: SdkTransport): ChildProcess | undefined {
  const child = (transport as unknown as { _process?: unknown })._process;
  return typeof child === 'object' && child !== null && typeof (child as ChildProcess).kill === 'function' ? (child as ChildProcess) : undefined;
}

const exitedAlready = (c: ChildProcess): boolean => c.exitCode !== null || c.signalCode !== null;

/**
 * Shuts `child` down: stdin closed, `graceMs` (ms) to exit, SIGTERM, `graceMs` more, SIGKILL. Resolves once
 * the process has exited, with the step that ended it and how long each took. Never rejects.
 */
export async function shutDownStdio(child: ChildProcess, graceMs: number): Promise<ShutdownOutcome> {
  if (exitedAlready(child)) return { step: 'already-exited', afterMs: 0, code: child.exitCode, signal: child.signalCode };
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  const within = async (ms: number): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([exit.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  const t0 = performance.now();
  // A server that already closed its end of stdin makes end() fail with EPIPE: that is no reason to stop here.
  child.stdin?.on('error', () => undefined);
  child.stdin?.end();
  let step: ShutdownStep = 'stdin';
  let signalledAt = t0;
  // Each signal goes only to a process still running: the exit may land just as the wait ends.
  if (!(await within(graceMs)) && !exitedAlready(child)) {
    step = 'SIGTERM';
    signalledAt = performance.now();
    child.kill('SIGTERM');
    if (!(await within(graceMs)) && !exitedAlready(child)) {
      step = 'SIGKILL';
      signalledAt = performance.now();
      child.kill('SIGKILL');
    }
  }
  const { code, signal, at } = await exit;
  return { step, afterMs: at - t0, ...(step === 'stdin' ? {} : { afterSignalMs: Math.max(0, at - signalledAt) }), code, signal };
}
