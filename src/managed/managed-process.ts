/**
 * The supervisor of one managed version's HTTP server: starts it on its port, waits until it answers the MCP
 * handshake of its era, starts it again with backoff when it dies, and stops it (SIGTERM to its process group,
 * SIGKILL after a grace). The process runs in a group of its own, watched by a Lifeline, so a supervisor killed
 * outright leaves nothing behind; wrappers (npx, sh) and their children go with the group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { launchFor, managedUrl } from '../domain/managed-spec.js';
import { DEFAULT_RESTART_POLICY, restartDecision, type RestartPolicy } from '../domain/restart-backoff.js';
import type { ManagedSpec } from '../domain/types.js';
import type { Lifeline } from '../backends/lifeline.js';
import type { ManagedFigures } from '../telemetry/version-metrics.js';
import { groupStats } from './proc-stats.js';
import { freePort } from '../free-port.js';

/** Starts on a new auto port after "address in use", at most this many times per start. */
const PORT_ATTEMPTS = 5;
/** Each handshake attempt during readiness gets at most this long (ms); a refused connection ends it sooner. */
const ATTEMPT_MS = 5000;
/** Pause between handshake attempts while the server is not listening yet (ms). */
const RETRY_MS = 100;
const ADDRESS_IN_USE = /EADDRINUSE|address already in use/i;

export type ManagedState = 'starting' | 'ready' | 'backoff' | 'held' | 'stopped';

/** What happened to the process, for the version's history, metrics and logs. */
export type ManagedEvent =
  | { type: 'ready'; pid: number; port: number; url: string; restart: boolean }
  | { type: 'exited'; pid: number; reason: string }
  | { type: 'start-failed'; reason: string }
  | { type: 'restarting'; reason: string; delayMs: number }
  | { type: 'held'; reason: string; until: number };

export interface ManagedOptions {
  /** How long a start may take until the handshake answers, ms (default 30 s). */
  readyTimeoutMs: number;
  /** Between SIGTERM and SIGKILL when stopping, ms (default 5 s). */
  stopGraceMs: number;
  /** Start it again when it dies (off for private instances, which live for one validation). */
  restart: boolean;
  policy: RestartPolicy;
  lifeline?: Lifeline;
  /** Headers sent with the readiness handshake (the version's configured headers). */
  headers: Record<string, string>;
  now: () => number;
  onEvent?: (e: ManagedEvent) => void;
}

export const DEFAULT_MANAGED_OPTIONS: ManagedOptions = { readyTimeoutMs: 30_000, stopGraceMs: 5000, restart: true, policy: DEFAULT_RESTART_POLICY, headers: {}, now: Date.now };

/** What status and /metrics show of a managed version's process (telemetry's figures, with its state typed). */
export interface ManagedStatus extends Omit<ManagedFigures, 'state'> {
  state: ManagedState;
}

export class ManagedProcess {
  private child: ChildProcess | undefined;
  private release: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly deaths: number[] = [];
  private stopping = false;
  private state: ManagedState = 'stopped';
  private port: number | undefined;
  private upSince: number | undefined;
  private restarts = 0;
  private lastExit: string | undefined;
  /** The URL while the process is ready; undefined otherwise. */
  url: string | undefined;

  /** @param label `server@version`, in every message */
  constructor(
    readonly label: string,
    private readonly spec: ManagedSpec,
    private readonly opts: ManagedOptions = DEFAULT_MANAGED_OPTIONS,
  ) {}

  /**
   * Starts the process and resolves with its URL once the handshake answers. Throws `Error` naming the version
   * and what went wrong (exit code and stderr, or the readiness deadline). With `restart`, a failed start counts
   * as a death: a new start is scheduled with backoff before the error is thrown.
   */
  async start(): Promise<string> {
    this.stopping = false;
    try {
      return await this.launch(false);
    } catch (e) {
      if (!this.stopping && this.opts.restart) this.died(reasonOf(e));
      throw e;
    }
  }

  /** Stops the process (SIGTERM to its group, SIGKILL after the grace) and any scheduled restart; resolves once it exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.state = 'stopped';
    this.url = undefined;
    await this.kill();
  }

  status(): ManagedStatus {
    const pid = this.child?.pid;
    const stats = this.state === 'ready' && pid !== undefined ? groupStats(pid) : undefined;
    return {
      state: this.state,
      ...(pid === undefined || this.state !== 'ready' ? {} : { pid }),
      ...(this.port === undefined || this.state !== 'ready' ? {} : { port: this.port }),
      ...(this.url === undefined ? {} : { url: this.url }),
      ...(this.upSince === undefined || this.state !== 'ready' ? {} : { upSince: this.upSince }),
      restarts: this.restarts,
      ...(this.lastExit === undefined ? {} : { lastExit: this.lastExit }),
      ...(stats ?? {}),
    };
  }

  /** One start: a process on its port (a new free one after "address in use"), until the handshake answers. */
  private async launch(restart: boolean): Promise<string> {
    this.state = 'starting';
    for (let attempt = 1; ; attempt++) {
      const port = this.spec.port === 'auto' ? await freePort() : this.spec.port;
      const outcome = await this.startOn(port);
      if (this.stopping) throw new StartError(this.label, 'stopped while starting');
      if (outcome.ok) {
        this.state = 'ready';
        this.port = port;
        this.upSince = this.opts.now();
        this.url = outcome.url;
        this.opts.onEvent?.({ type: 'ready', pid: outcome.pid, port, url: outcome.url, restart });
        return outcome.url;
      }
      const retry = this.spec.port === 'auto' && outcome.exited && ADDRESS_IN_USE.test(outcome.message) && attempt < PORT_ATTEMPTS;
      if (!retry) throw new StartError(this.label, outcome.message);
    }
  }

  private async startOn(port: number): Promise<{ ok: true; url: string; pid: number } | { ok: false; exited: boolean; message: string }> {
    const { args, env } = launchFor(this.spec, port);
    const child = spawn(this.spec.command, args, {
      env: { ...process.env, ...env },
      ...(this.spec.cwd === undefined ? {} : { cwd: this.spec.cwd }),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: stopped, and reaped by the lifeline, as a whole.
      detached: true,
    });
    let output = '';
    const keep = (d: Buffer): void => void (output = (output + d.toString('utf8')).slice(-4000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const tail = (): string => output.trim().split('\n').slice(-3).join(' | ');
    let exitedWith: string | undefined;
    const exited = new Promise<string>((resolve) => {
      child.once('error', (e) => resolve((exitedWith = `could not be started: ${e.message}`)));
      child.once('exit', (code, signal) => resolve((exitedWith = signal ? `was ended by ${signal}` : `exited with code ${code}`)));
    });
    if (child.pid === undefined) return { ok: false, exited: true, message: `${await exited} (command "${this.spec.command}")` };
    this.child = child;
    this.release = this.opts.lifeline?.watch(child.pid);
    const url = managedUrl(this.spec, port);
    // Loaded when a managed version starts: a router that runs none does not carry the MCP client in memory.
    const { connectVersion } = await import('../checks/connect-version.js');
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    let last = 'no answer';
    while (!this.stopping) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const conn = await Promise.race([
          connectVersion({ type: 'http', url, headers: this.opts.headers }, Math.min(left, ATTEMPT_MS), 'mcp-rollout-ready'),
          exited.then((why) => Promise.reject(new Error(why))),
        ]);
        await (conn.transport as { terminateSession?: () => Promise<void> }).terminateSession?.().catch(() => undefined);
        await conn.client.close().catch(() => undefined);
        if (exitedWith !== undefined) continue; // it answered, then died: the exit wins below
        child.once('exit', (code, signal) => this.exitedAfterReady(child, signal ? `was ended by ${signal}` : `exited with code ${code}`, tail));
        return { ok: true, url, pid: child.pid };
      } catch (e) {
        last = (e as Error).message;
      }
      if (exitedWith !== undefined) {
        this.forgetChild(child);
        return { ok: false, exited: true, message: `${exitedWith} before it was ready on port ${port}${tail() ? `; output: ${tail()}` : ''}` };
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, RETRY_MS))]);
    }
    await this.kill();
    return { ok: false, exited: false, message: `did not answer the MCP handshake at ${url} within ${this.opts.readyTimeoutMs} ms (last: ${last})${tail() ? `; output: ${tail()}` : ''}` };
  }

  private exitedAfterReady(child: ChildProcess, why: string, tail: () => string): void {
    if (this.child !== child) return;
    this.forgetChild(child);
    if (this.stopping) return;
    this.url = undefined;
    const reason = `${why}${tail() ? `; output: ${tail()}` : ''}`;
    this.opts.onEvent?.({ type: 'exited', pid: child.pid!, reason });
    if (this.opts.restart) this.died(reason);
    else this.state = 'stopped';
  }

  /** A death (after ready, or a failed start): start again after the backoff, or hold until the window allows. */
  private died(reason: string): void {
    const now = this.opts.now();
    this.deaths.push(now);
    if (this.deaths.length > 100) this.deaths.splice(0, this.deaths.length - 100);
    this.lastExit = reason;
    const d = restartDecision(this.deaths, now, this.opts.policy);
    const wait = d.restart ? d.delayMs : Math.max(0, d.until - now);
    if (d.restart) {
      this.state = 'backoff';
      this.opts.onEvent?.({ type: 'restarting', reason, delayMs: d.delayMs });
    } else {
      this.state = 'held';
      this.opts.onEvent?.({ type: 'held', reason: `${this.opts.policy.maxDeaths} deaths within ${this.opts.policy.windowMs / 1000} s (last: ${reason})`, until: d.until });
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.relaunch(), wait);
    this.timer.unref();
  }

  private async relaunch(): Promise<void> {
    if (this.stopping) return;
    this.restarts++;
    try {
      await this.launch(true);
    } catch (e) {
      if (this.stopping) return;
      this.opts.onEvent?.({ type: 'start-failed', reason: reasonOf(e) });
      this.died(reasonOf(e));
    }
  }

  private forgetChild(child: ChildProcess): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.release?.();
    this.release = undefined;
  }

  /** SIGTERM to the group, SIGKILL after the grace; resolves once the process exited. */
  private async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    const pid = child.pid;
    const gone = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    const signal = (s: NodeJS.Signals): void => {
      try {
        process.kill(-pid, s);
      } catch {
        // the group is gone already
      }
    };
    signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.opts.stopGraceMs)));
    if ((await Promise.race([gone, late])) === 'late') {
      signal('SIGKILL');
      await gone;
    } else {
      // The leader is gone; any child it left in the group goes too.
      signal('SIGKILL');
    }
    clearTimeout(timer);
    this.forgetChild(child);
  }
}

/** A start that failed: the message names the version; `reason` is what happened, for history lines. */
export class StartError extends Error {
  constructor(
    label: string,
    readonly reason: string,
  ) {
    super(`${label}: ${reason}`);
  }
}

const reasonOf = (e: unknown): string => (e instanceof StartError ? e.reason : (e as Error).message);

