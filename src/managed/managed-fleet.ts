/**
 * The managed versions a router runs: one supervised process per managed version that is blue or green,
 * started when the router starts or when the registry makes a version active, and stopped once the version has
 * been inactive (or removed) for the rollback window and no session is pinned to it, so rolling back inside the
 * window finds its server still running. Also the one place a version's backend URL is resolved.
 */
import type { ProcessEvent, ServerState, VersionRecord } from '../domain/types.js';
import type { LiveView } from '../registry/live-view.js';
import type { ManagedFigures, VersionMetrics } from '../telemetry/version-metrics.js';
import { Lifeline } from '../backends/lifeline.js';
import { DEFAULT_MANAGED_OPTIONS, ManagedProcess, type ManagedEvent } from './managed-process.js';

export interface FleetOptions {
  /** How long a start may take until the handshake answers, ms (serve's --ready-timeout). */
  readyTimeoutMs: number;
  /** How long an inactive version's process is kept for a quick rollback, ms (serve's --rollback-window). */
  rollbackWindowMs: number;
  metrics: VersionMetrics;
  /** Open sessions per server and version (the router's), so a version is stopped only once drained. */
  sessions: () => Record<string, Record<string, number>>;
  /** Records a restart or a hold in the version's history (the registry); failures are logged, never fatal. */
  record: (server: string, version: string, event: ProcessEvent, reason: string) => Promise<unknown>;
  log: (line: string) => void;
  now: () => number;
}

const key = (server: string, version: string): string => `${server}\u0000${version}`;
const isManaged = (v: VersionRecord): v is VersionRecord & { type: 'http'; managed: NonNullable<Extract<VersionRecord, { type: 'http' }>['managed']> } => v.type === 'http' && v.managed !== undefined;

export class ManagedFleet {
  private readonly running = new Map<string, { server: string; version: string; spec: string; proc: ManagedProcess; started: Promise<unknown> }>();
  private readonly retiredAt = new Map<string, number>();
  /** Ends every managed process group if the router dies without doing so (SIGKILL, a crash). */
  private readonly lifeline = new Lifeline();
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly view: LiveView,
    private readonly opts: FleetOptions,
  ) {
    opts.metrics.managedSource = () => this.figures();
    view.on('change', () => void this.reconcile());
  }

  /**
   * Starts every managed version that is blue or green and resolves once each is ready or has failed its start
   * (a failed one is logged and started again with backoff). Then keeps the fleet in step with the registry.
   */
  async start(): Promise<void> {
    await this.reconcile();
    this.sweeper = setInterval(() => void this.reconcile(), Math.max(100, Math.min(5000, this.opts.rollbackWindowMs)));
    this.sweeper.unref();
  }

  /**
   * Where the router sends a version's requests: a managed version's running server, else the stored URL.
   * Throws `Error` naming the version when a managed version has no server answering now.
   */
  backendOf(server: string, record: VersionRecord & { type: 'http' | 'sse' }): { url: string; headers: Record<string, string> } {
    if (record.type !== 'http' || !record.managed) return { url: record.url, headers: record.headers };
    const r = this.running.get(key(server, record.version));
    const url = r?.proc.url;
    if (url === undefined) {
      const st = r?.proc.status();
      const why = st === undefined ? 'is not started by this router' : st.state === 'starting' ? 'is starting' : `is not running (${st.state}${st.lastExit ? `: ${st.lastExit}` : ''})`;
      throw new Error(`server "${server}" version ${record.version} is a managed version whose server ${why}`);
    }
    return { url, headers: record.headers };
  }

  /**
   * A version record with a managed version's URL resolved (for health probes, which get a record without its
   * server's name: the running process with the same version and spec is the one).
   */
  resolved(record: VersionRecord): VersionRecord {
    if (!isManaged(record)) return record;
    const spec = JSON.stringify(record.managed);
    const r = [...this.running.values()].find((x) => x.version === record.version && x.spec === spec && x.proc.url !== undefined);
    return r ? { ...record, url: r.proc.url! } : record;
  }

  /**
   * What a managed version's process has been through, for a failed health probe's message (a probe that finds
   * a dead server only sees a refused connection): `managed server backoff, restarts 1, last exit: exited with
   * code 1`. Undefined for other versions, and for a managed one that never died.
   */
  processNote(record: VersionRecord): string | undefined {
    if (!isManaged(record)) return undefined;
    const spec = JSON.stringify(record.managed);
    const st = [...this.running.values()].find((x) => x.version === record.version && x.spec === spec)?.proc.status();
    if (st?.lastExit === undefined) return undefined;
    return `managed server ${st.state}, restarts ${st.restarts}, last exit: ${st.lastExit}`;
  }

  /** Stops every managed process (SIGTERM, SIGKILL after the grace) and the lifeline. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    await Promise.all([...this.running.values()].map((r) => r.proc.stop()));
    this.running.clear();
    this.lifeline.close();
  }

  private figures(): Map<string, ManagedFigures> {
    return new Map([...this.running].map(([k, r]) => [k, r.proc.status()]));
  }

  /** Starts what is active and not running; stops what has been inactive for the window and is drained. */
  private async reconcile(): Promise<void> {
    if (this.closed) return;
    const now = this.opts.now();
    const starts: Promise<unknown>[] = [];
    const wanted = new Set<string>();
    for (const name of this.view.names()) {
      const server = this.view.get(name)!;
      for (const v of server.versions) {
        if (!isManaged(v)) continue;
        const k = key(name, v.version);
        if (v.status === 'inactive') continue;
        wanted.add(k);
        this.retiredAt.delete(k);
        const spec = JSON.stringify(v.managed);
        const r = this.running.get(k);
        if (r && r.spec === spec) {
          starts.push(r.started);
          continue;
        }
        if (r) void r.proc.stop(); // its command changed in the registry: the new one replaces it
        starts.push(this.launch(server, v, spec));
      }
    }
    for (const [k, r] of this.running) {
      if (wanted.has(k)) continue;
      const since = this.retiredAt.get(k) ?? now;
      this.retiredAt.set(k, since);
      const sessions = this.opts.sessions()[r.server]?.[r.version] ?? 0;
      if (now - since >= this.opts.rollbackWindowMs && sessions === 0) {
        this.running.delete(k);
        this.retiredAt.delete(k);
        const { pid, port } = r.proc.status();
        this.opts.log(`${r.server}@${r.version}: inactive for the rollback window and drained: stopping its server (pid ${pid ?? '-'})`);
        await r.proc.stop();
        this.opts.metrics.processEnded(r.server, r.version);
        // In the version's history and, as the last phase of a blue/green switch, in the rollout's events.
        const where = pid === undefined ? 'it was not running' : `pid ${pid}, port ${port ?? '-'}`;
        this.recordEvent(r.server, r.version, 'stopped', `inactive for the rollback window and drained: stopped (${where})`);
      }
    }
    await Promise.all(starts);
  }

  private launch(server: ServerState, v: VersionRecord & { type: 'http' }, spec: string): Promise<unknown> {
    const label = `${server.name}@${v.version}`;
    const onEvent = (e: ManagedEvent): void => this.onEvent(server.name, v.version, e);
    const proc = new ManagedProcess(label, v.managed!, { ...DEFAULT_MANAGED_OPTIONS, readyTimeoutMs: this.opts.readyTimeoutMs, headers: v.headers, lifeline: this.lifeline, now: this.opts.now, onEvent });
    const started = proc.start().catch((e: Error) => this.opts.log(`${e.message} (started again with backoff)`));
    this.running.set(key(server.name, v.version), { server: server.name, version: v.version, spec, proc, started });
    return started;
  }

  /** Records a process event in the registry; a failure is logged, never fatal (the process matters more). */
  private recordEvent(server: string, version: string, event: ProcessEvent, reason: string): void {
    void this.opts.record(server, version, event, reason).catch((err: Error) => this.opts.log(`${server}@${version}: could not record the ${event} in the registry: ${err.message}`));
  }

  private onEvent(server: string, version: string, e: ManagedEvent): void {
    const m = this.opts.metrics;
    const label = `${server}@${version}`;
    const record = (event: ProcessEvent, reason: string): void => this.recordEvent(server, version, event, reason);
    switch (e.type) {
      case 'ready':
        m.processStarted(server, version, e.restart);
        this.opts.log(`${label}: managed server ready at ${e.url} (pid ${e.pid})${e.restart ? ' after a restart' : ''}`);
        return;
      case 'exited':
        m.processEnded(server, version);
        this.opts.log(`${label}: managed server (pid ${e.pid}) ${e.reason}`);
        return;
      case 'start-failed':
        this.opts.log(`${label}: restart failed: ${e.reason}`);
        return;
      // Every death (after ready, or a start that failed) comes here, and counts as a crash for rollout analysis.
      case 'restarting':
        m.crashed(server, version);
        record('restarted', `${e.reason}; started again after ${e.delayMs / 1000} s`);
        return;
      case 'held':
        m.crashed(server, version);
        record('held', `${e.reason}; no restart before ${new Date(e.until).toISOString()}`);
        this.opts.log(`${label}: restarts held: ${e.reason}`);
        return;
    }
  }
}
