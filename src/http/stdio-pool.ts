/**
 * Stateless (2026-07-28) requests to a stdio version: one long-lived process per version serves every
 * client's requests. Ids are rewritten on the way in (clients reuse ids; 0 is one) and restored on the way
 * out; each request's answer is returned as one JSON-RPC message. A process that dies fails its open
 * requests at once and is started again for the next one.
 */
import type { VersionRecord } from '../domain/types.js';
import { StdioUpstream, type StdioOptions } from '../upstream/stdio-upstream.js';

type Id = string | number;
type Msg = { jsonrpc?: string; id?: Id | null; method?: string; params?: unknown; result?: unknown; error?: unknown };

export class StdioPool {
  private readonly processes = new Map<string, { upstream: Promise<StdioUpstream>; open: Map<string, { id: Id; resolve: (m: Msg) => void }> }>();
  private seq = 0;

  constructor(
    private readonly stdioOptions: StdioOptions,
    private readonly requestTimeoutMs = 300_000,
  ) {}

  private key(server: string, version: string): string {
    return `${server}\u0000${version}`;
  }

  private entry(server: string, record: VersionRecord & { type: 'stdio' }) {
    const k = this.key(server, record.version);
    let e = this.processes.get(k);
    if (e) return e;
    const open = new Map<string, { id: Id; resolve: (m: Msg) => void }>();
    const label = `server "${server}" version ${record.version}`;
    const upstream = StdioUpstream.start(label, record, this.stdioOptions, {
      message: (m) => {
        const msg = m as Msg;
        if (msg.method !== undefined || typeof msg.id !== 'string') return; // stateless: nothing unsolicited to deliver
        const o = open.get(msg.id);
        if (!o) return;
        open.delete(msg.id);
        o.resolve({ ...msg, id: o.id });
      },
      close: (reason) => {
        this.processes.delete(k);
        for (const o of open.values()) o.resolve({ jsonrpc: '2.0', id: o.id, error: { code: -32603, message: reason } });
        open.clear();
      },
    });
    upstream.catch(() => this.processes.delete(k));
    e = { upstream, open };
    this.processes.set(k, e);
    return e;
  }

  /** Sends one request to the version's process and resolves with its answer (original id restored). */
  async request(server: string, record: VersionRecord & { type: 'stdio' }, msg: Msg & { id: Id }): Promise<Msg> {
    const e = this.entry(server, record);
    let u: StdioUpstream;
    try {
      u = await e.upstream;
    } catch (err) {
      return { jsonrpc: '2.0', id: msg.id, error: { code: -32603, message: `server "${server}" version ${record.version} could not be started: ${(err as Error).message}` } };
    }
    const internal = `pool-${++this.seq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (e.open.delete(internal)) resolve({ jsonrpc: '2.0', id: msg.id, error: { code: -32603, message: `server "${server}" version ${record.version} did not answer ${msg.method} within ${this.requestTimeoutMs} ms` } });
      }, this.requestTimeoutMs);
      timer.unref();
      e.open.set(internal, {
        id: msg.id,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      u.send({ ...msg, id: internal });
    });
  }

  /** Delivers a notification to the version's process. */
  async notify(server: string, record: VersionRecord & { type: 'stdio' }, msg: Msg): Promise<void> {
    const u = await this.entry(server, record).upstream.catch(() => undefined);
    u?.send(msg);
  }

  /** The versions that have a process now, as `server\u0000version` keys. */
  running(): string[] {
    return [...this.processes.keys()];
  }

  /** Ends the process of one version (no-op without one); its open requests get errors. */
  async stop(key: string): Promise<void> {
    const e = this.processes.get(key);
    if (!e) return;
    this.processes.delete(key);
    await e.upstream.then((u) => u.close(), () => undefined);
  }

  /** Ends every process. */
  async close(): Promise<void> {
    const all = [...this.processes.values()];
    this.processes.clear();
    await Promise.all(all.map((e) => e.upstream.then((u) => u.close(), () => undefined)));
  }
}
