/**
 * One legacy session bridged between a transport facing the client (the router's Streamable HTTP front: POST
 * answers as JSON or SSE, the GET stream, DELETE; or the legacy HTTP+SSE transport) and one of our upstreams facing
 * the backend (a stdio process, an SSE or Streamable HTTP connection). Messages from the backend carry no hint
 * of the request they belong to, so it is re-derived: responses by id; progress by progress token; anything
 * else to the single open request, else the client's standalone stream.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { VersionRecord } from '../domain/types.js';
import { answerTooLarge, couldNotStart, versionLabel } from '../protocol/router-errors.js';
import { RequestLedger, type Outcome } from './request-ledger.js';
import type { VersionMetrics } from '../telemetry/version-metrics.js';
import type { StdioOptions } from '../backends/stdio-upstream.js';
import { startUpstream, type Upstream, type UpstreamEvents } from '../backends/upstream.js';

type Id = string | number;
type Msg = { id?: Id | null; method?: string; params?: { progressToken?: Id; _meta?: { progressToken?: Id } }; result?: { isError?: boolean; protocolVersion?: string }; error?: unknown };

export class SessionBridge {
  /** The client's requests the backend still owes an answer to. */
  private readonly open: RequestLedger;
  private closed = false;
  private initializing: Id | undefined;
  /** Resolves when the process is running; rejects with the reason it could not start. */
  readonly starting: Promise<Upstream>;
  /** Called each time the last request the backend owes an answer to is answered (or failed). */
  onsettled?: () => void;
  /** Called once when the backend dies unasked (`reason` names server and version), before the session closes. */
  ondied?: (reason: string) => void;

  /**
   * @param transport the transport facing the client (the router's Streamable HTTP front, or the SDK's legacy
   *   HTTP+SSE one; started by the caller)
   * @param onClose called once when the session ends (client DELETE or disconnect, backend exit, router close)
   * @param startAfter a stdio version's process is spawned only once this settles (the process it replaces, ended
   *   to stay within the version's cap, has exited); messages from the client wait for it
   */
  constructor(
    private readonly server: string,
    private readonly record: VersionRecord,
    private readonly transport: Transport,
    private readonly metrics: VersionMetrics,
    private readonly onClose: () => void,
    stdioOptions: StdioOptions,
    private readonly requestTimeoutMs = 300_000,
    startAfter: Promise<unknown> = Promise.resolve(),
  ) {
    this.open = new RequestLedger(server, {
      book: (b) => this.metrics.request(server, b.version, b.method, b.latencyMs, b.outcome),
      reply: (error) => void this.transport.send(error, { relatedRequestId: error.id }).catch(() => undefined),
      idle: () => this.onsettled?.(),
    });
    this.transport.onmessage = (m) => this.fromClient(m as Msg);
    this.transport.onclose = () => void this.close();
    const label = versionLabel(server, record.version);
    const events: UpstreamEvents = {
      message: (m) => this.fromBackend(m as Msg),
      noise: () => this.metrics.dropped(server, record.version),
      oversize: (bytes, id) => {
        this.metrics.dropped(server, record.version);
        // An answer too large to pass on: its request fails now rather than waiting for ever.
        if (id !== undefined && id !== null) this.open.failOne(id, answerTooLarge(server, record.version, bytes, stdioOptions.maxMessageBytes));
      },
      close: (reason, unexpected) => {
        if (record.type === 'stdio') this.metrics.processEnded(this.server, this.record.version);
        if (unexpected) {
          this.metrics.crashed(this.server, this.record.version);
          this.failOpen(reason);
          this.ondied?.(reason);
          void this.close();
        }
      },
    };
    const start = (): Promise<Upstream> => startUpstream(label, record, stdioOptions, events);
    const spawnStdio = (): Promise<Upstream> => (this.closed ? Promise.reject(new Error('the session ended before its process started')) : start());
    this.starting = record.type === 'stdio' ? startAfter.then(spawnStdio, spawnStdio) : start();
    this.starting.then(
      () => {
        if (record.type === 'stdio') this.metrics.processStarted(server, record.version);
      },
      () => undefined,
    );
  }

  private fromClient(m: Msg): void {
    if (m.method !== undefined && m.id !== undefined && m.id !== null) {
      const token = m.params?._meta?.progressToken;
      this.open.open(m.id, m.method, { version: this.record.version, deadlineMs: this.requestTimeoutMs, context: undefined, ...(token === undefined ? {} : { progressToken: token }) });
    }
    // In order, once the process runs; if it never does, the request gets the reason.
    void this.starting.then(
      (u) => {
        if (m.method === 'initialize') this.initializing = m.id ?? undefined;
        u.send(m);
      },
      (e: Error) => {
        this.failOpen(couldNotStart(this.server, this.record.version, e.message));
        void this.close();
      },
    );
  }

  private fromBackend(m: Msg): void {
    let related: Id | undefined;
    if (m.method === undefined && m.id !== undefined && m.id !== null) {
      // An HTTP backend needs the negotiated version on every later request.
      if (m.id === this.initializing && typeof (m.result as { protocolVersion?: unknown } | undefined)?.protocolVersion === 'string') {
        void this.starting.then((u) => u.negotiated?.((m.result as { protocolVersion: string }).protocolVersion));
      }
      this.open.settle(m);
      related = m.id;
    } else {
      related = (this.open.byProgressToken(m.params?.progressToken) ?? this.open.sole())?.id;
    }
    this.transport.send(m as JSONRPCMessage, related === undefined ? undefined : { relatedRequestId: related }).catch(() => undefined);
  }

  /** Requests of the client the backend still owes an answer to. */
  get inFlight(): number {
    return this.open.inFlight;
  }

  /** While the client's streams are backlogged, the backend is not read (see `Upstream.pause`). */
  backlog(full: boolean): void {
    void this.starting.then((u) => (full ? u.pause?.() : u.resume?.()), () => undefined);
  }

  /** Every open request gets an error naming the server and version. */
  private failOpen(reason: string, outcome: Outcome = { transportFailure: true }): void {
    this.open.failAll(reason, outcome);
  }

  /**
   * Ends the session: the process group, then the client streams. With `reason` (the router ends the session),
   * requests still open get an error saying why first, rather than a stream that just ends.
   */
  async close(reason?: string): Promise<void> {
    if (this.closed) return;
    // Not the version's transport failure: the router chose to end the session.
    if (reason !== undefined) this.failOpen(reason, { error: true });
    this.closed = true;
    this.open.clear();
    this.onClose();
    await this.starting.then((u) => u.close()).catch(() => undefined);
    await this.transport.close().catch(() => undefined);
  }
}
