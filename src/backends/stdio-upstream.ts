/**
 * A stdio backend: the version's command in its own process group, one JSON-RPC message per line each way.
 * Lines that are not JSON on its stdout are dropped and counted (never forwarded); stderr goes to ours.
 * Closing ends stdin, then sends SIGTERM to the group, then SIGKILL, after short grace periods: no orphans.
 * When the process exits by itself, whatever it left in its group is ended the same way.
 *
 * With a `lifeline`, the group is also watched from outside (see lifeline.ts): so a backend that ignores stdin
 * EOF does not outlive a proxy or router that was SIGKILLed or crashed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { LineSplitter } from '../protocol/line-splitter.js';
import { peekId } from '../protocol/peek-id.js';
import type { Lifeline } from './lifeline.js';
import type { Upstream, UpstreamEvents } from './upstream.js';
import { crashed } from '../protocol/router-errors.js';

export interface StdioSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
}

export interface StdioOptions {
  maxMessageBytes: number;
  /** ms between closing stdin and SIGTERM, and between SIGTERM and SIGKILL (default 1000). */
  graceMs?: number;
  /** Where the child's stderr goes (default: this process's stderr). */
  stderr?: (chunk: Buffer) => void;
  /** A watcher that ends the group if this process dies without closing it (default: none). */
  lifeline?: Lifeline;
}

export class StdioUpstream implements Upstream {
  noise = 0;
  private readonly child: ChildProcess;
  private stderrTail = '';
  private exited = false;
  private closing = false;
  private releaseLifeline: () => void = () => undefined;

  private constructor(
    readonly label: string,
    spec: StdioSpec,
    private readonly opts: StdioOptions,
  ) {
    this.child = spawn(spec.command, spec.args, {
      env: { ...process.env, ...spec.env },
      ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // its own process group, so the whole tree can be ended
    });
  }

  /** Spawns the process; rejects when it cannot be started at all (no such command, no permission). */
  static start(label: string, spec: StdioSpec, opts: StdioOptions, events: UpstreamEvents): Promise<StdioUpstream> {
    const u = new StdioUpstream(label, spec, opts);
    return new Promise((resolve, reject) => {
      u.child.once('error', (e) => {
        u.exited = true;
        reject(new Error(`cannot start ${spec.command}: ${e.message}`));
      });
      u.child.once('spawn', () => {
        if (opts.lifeline && u.child.pid !== undefined) u.releaseLifeline = opts.lifeline.watch(u.child.pid);
        u.wire(events);
        resolve(u);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private wire(events: UpstreamEvents): void {
    const lines = new LineSplitter(this.opts.maxMessageBytes, {
      line: (text) => {
        let msg: unknown;
        try {
          msg = JSON.parse(text);
        } catch {
          this.noise++;
          events.noise?.();
          return;
        }
        if (typeof msg !== 'object' || msg === null) {
          this.noise++;
          events.noise?.();
          return;
        }
        events.message(msg, text);
      },
      oversize: (bytes, head, tail) => events.oversize?.(bytes, peekId(head, tail)),
    });
    this.child.stdout!.on('data', (c: Buffer) => lines.push(c));
    this.child.stdout!.on('end', () => lines.end());
    this.child.stderr!.on('data', (c: Buffer) => {
      this.stderrTail = (this.stderrTail + c.toString('utf8')).slice(-1000);
      (this.opts.stderr ?? ((b) => process.stderr.write(b)))(c);
    });
    this.child.stdin!.on('error', () => undefined); // EPIPE after the child died: reported through 'exit'
    this.child.once('exit', (code, signal) => {
      this.exited = true;
      if (!this.closing) void this.endLeftovers();
      const tail = this.stderrTail.trim().split('\n').slice(-2).join(' | ');
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      events.close(this.closing ? 'closed' : crashed(this.label, how, tail), !this.closing);
    });
  }

  /** Writes one message; `text` is sent as is when given (byte-faithful forwarding). */
  send(message: unknown, text?: string): void {
    if (this.exited || this.closing) return;
    this.child.stdin!.write((text ?? JSON.stringify(message)) + '\n');
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** While paused, the process's output backs up once its stdout pipe is full: it sends no faster than its client reads. */
  pause(): void {
    this.child.stdout!.pause();
  }

  resume(): void {
    this.child.stdout!.resume();
  }

  /** Ends the process group: stdin closed, then SIGTERM, then SIGKILL. Resolves when it has exited. */
  async close(): Promise<void> {
    if (this.exited) return;
    this.closing = true;
    const grace = this.opts.graceMs ?? 1000;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const timer = new Promise<'late'>((r) => setTimeout(() => r('late'), grace).unref());
      if ((await Promise.race([gone.then(() => 'gone' as const), timer])) === 'gone') break;
      this.killGroup(signal);
    }
    await gone;
    this.killGroup('SIGKILL'); // anything the server left behind in its group
    this.releaseLifeline();
  }

  /** The process exited by itself: anything it started in its group gets SIGTERM, then SIGKILL. */
  private async endLeftovers(): Promise<void> {
    if (this.killGroup('SIGTERM')) {
      await new Promise((r) => setTimeout(r, this.opts.graceMs ?? 1000).unref());
      this.killGroup('SIGKILL');
    }
    this.releaseLifeline();
  }

  /** True when the group still had a process to signal. */
  private killGroup(signal: NodeJS.Signals): boolean {
    const pid = this.child.pid;
    if (pid === undefined) return false;
    try {
      process.kill(-pid, signal);
      return true;
    } catch {
      return false; // the group is already gone
    }
  }

  /** For error messages: the last thing the process wrote to stderr. */
  lastStderr(): string {
    return this.stderrTail.trim().split('\n').slice(-2).join(' | ');
  }
}
