/**
 * The GET stream of the backend session an HTTP session has just moved to, held by the router until the client's
 * own GET takes it over. A backend (the SDK's servers among them) drops what it sends on its own while no GET
 * stream is open, and the client opens its GET again only a moment after a move ended the old one (the SDK client
 * after a second). So the router opens the stream during the move, before `notifications/initialized`, keeps what
 * comes, and hands it to the client's next GET: first the move's `list_changed` notices (when the client had no
 * stream open for them at the move), then what was kept, then the live stream.
 *
 * Bounded: a client that does not come for the stream within `holdMs`, or a backend that sends more than
 * `holdBytes` meanwhile, loses it (the stream is closed; the client's GET then goes to the backend as any other).
 */
import type { ServerResponse } from 'node:http';
import { backendTarget, send, type BackendCall } from '../backends/backend-client.js';
import { SSE_HEADERS, sseEvent } from '../fronts/replies.js';
import type { BackendEndpoint } from './backend-session.js';

export interface HoldLimits {
  /** How long the stream waits for the client's GET, ms. */
  holdMs: number;
  /** How much of the backend's stream is kept meanwhile, bytes. */
  holdBytes: number;
  /** How long the backend may take to accept the connection, ms. */
  connectTimeoutMs: number;
}

/**
 * 30 s (the SDK client reopens its stream after 1 s); 64 KiB, room for hundreds of notifications: a rollback moves
 * every session of the version at once, and each may hold this much until its client comes.
 */
export const DEFAULT_HOLD: Omit<HoldLimits, 'connectTimeoutMs'> = { holdMs: 30_000, holdBytes: 64 * 1024 };

export class HeldStream {
  /** The move's notices and what the backend sent, until the client comes. */
  private kept: Buffer[] = [];
  private keptBytes = 0;
  private readonly call: BackendCall | undefined;
  private client: ServerResponse | undefined;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private markReady: () => void = () => undefined;
  /**
   * Resolves once the backend answered the GET (its stream is open, or it offers none), or the stream was closed,
   * or `connectTimeoutMs` passed (a backend slow to answer is not waited for longer).
   */
  readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));

  /**
   * Opens the GET stream of backend session `session` at `ep`. `onClose` is told once, when the stream is closed
   * for any reason (the backend ended it or offers none, a limit, the client left, `close`).
   */
  constructor(ep: BackendEndpoint, session: string, protocolVersion: string | undefined, limits: HoldLimits, private readonly onClose: () => void) {
    this.timer = setTimeout(() => this.client === undefined && this.close(), limits.holdMs);
    this.timer.unref();
    const late = setTimeout(() => this.markReady(), limits.connectTimeoutMs);
    late.unref();
    void this.ready.then(() => clearTimeout(late));
    const headers: Record<string, string> = { accept: 'text/event-stream', ...ep.headers, 'mcp-session-id': session };
    if (protocolVersion !== undefined) headers['mcp-protocol-version'] = protocolVersion;
    try {
      this.call = send(backendTarget(ep.url), 'GET', headers, undefined, {
        // A backend that offers no GET stream (405, as the specification allows) has nothing to hold.
        head: (h) => {
          if (h.status !== 200 || !(h.headers['content-type'] ?? '').includes('text/event-stream')) this.close();
          this.markReady();
        },
        data: (chunk) => this.data(chunk, limits.holdBytes),
        end: () => this.close(),
        error: () => this.close(),
      }, limits.connectTimeoutMs);
    } catch {
      this.close();
    }
  }

  /** The move's notices, for a client that had no stream open to hear them on: they go first. */
  tell(notices: string[]): void {
    if (this.closed || notices.length === 0) return;
    this.kept.unshift(Buffer.from(notices.map((method) => sseEvent({ jsonrpc: '2.0', method })).join('')));
  }

  /**
   * The client's GET takes the stream over: `res` gets what was kept, then the live stream, until either side
   * closes it. False when it is closed already (the GET is then the backend's to answer).
   */
  attach(res: ServerResponse): boolean {
    if (this.closed || this.client !== undefined) return false;
    this.client = res;
    clearTimeout(this.timer);
    res.on('close', () => this.close());
    res.writeHead(200, SSE_HEADERS);
    for (const chunk of this.kept) res.write(chunk);
    this.kept = [];
    res.flushHeaders();
    return true;
  }

  /** True until the stream is closed. */
  get open(): boolean {
    return !this.closed;
  }

  /**
   * Closes the backend's stream. The client's response, if it took the stream over, ends too, unless
   * `leaveClient` (a session moving on writes its last words there itself).
   */
  close(leaveClient = false): void {
    if (this.closed) return;
    this.closed = true;
    this.markReady();
    clearTimeout(this.timer);
    this.call?.abort();
    this.kept = [];
    if (!leaveClient && this.client && !this.client.writableEnded) this.client.end();
    this.onClose();
  }

  private data(chunk: Buffer, limit: number): void {
    if (this.closed) return;
    const client = this.client;
    if (client === undefined) {
      this.keptBytes += chunk.length;
      if (this.keptBytes > limit) return this.close();
      this.kept.push(chunk);
      return;
    }
    // The backend's stream waits for a client slower than it.
    if (!client.write(chunk)) {
      this.call?.pause();
      client.once('drain', () => this.call?.resume());
    }
  }
}
