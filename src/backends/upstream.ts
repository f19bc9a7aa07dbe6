/**
 * What the proxy and the router's bridged sessions need of a backend, whatever its transport.
 */
import type { VersionRecord } from '../domain/types.js';
import { StdioUpstream, type StdioOptions } from './stdio-upstream.js';

export interface UpstreamEvents {
  /** A JSON-RPC message (object or batch array) from the backend; `text` is its original line, when there is one. */
  message(msg: unknown, text?: string): void;
  /** The backend is gone: `unexpected` is false only when we closed it. */
  close(reason: string, unexpected: boolean): void;
  /** A message over the size limit was dropped; `id` is its JSON-RPC id when its ends showed one. */
  oversize?(bytes: number, id: string | number | null | undefined): void;
  /** A line (stdio) or event (HTTP) that was not a JSON-RPC message was dropped. */
  noise?(): void;
  /**
   * The backend no longer knows the session (an HTTP backend answered 404 to a request carrying its session id:
   * it restarted). The upstream is no longer alive; `refused` are the messages the backend refused for that
   * reason: it never processed them, so they may be sent again on a new session. Reported again for each later
   * refusal of a message that was already under way. Without this handler, the upstream reports a `close`
   * (unexpected) instead.
   */
  sessionGone?(reason: string, refused: unknown[]): void;
}

export interface Upstream {
  /** "server \"x\" version 1.2.0", for messages. */
  readonly label: string;
  readonly alive: boolean;
  /** Lines from the backend that were not JSON, dropped (stdio backends). */
  readonly noise?: number;
  /** Sends one message; `text` is its original serialisation, forwarded as is where the transport allows. */
  send(message: unknown, text?: string): void;
  /** Ends the backend (a process group, or an HTTP session). */
  close(): Promise<void>;
  /** The initialize result passed with this protocol version (HTTP transports must send it from then on). */
  negotiated?(protocolVersion: string): void;
  /** Stops reading the backend's messages until `resume` (its client reads slower than it sends). */
  pause?(): void;
  resume?(): void;
}

/**
 * Starts the upstream a version's transport needs: its own process group (stdio), a Streamable HTTP session
 * (http) or a legacy HTTP+SSE connection (sse). Shared by the stdio proxy and the router's bridged sessions.
 * `opts.maxMessageBytes` bounds messages either way; `lifeline` and `stderr` concern stdio versions only.
 * Rejects with why the backend could not be started or reached (the caller names server and version).
 */
export async function startUpstream(label: string, record: VersionRecord, opts: StdioOptions, events: UpstreamEvents): Promise<Upstream> {
  if (record.type === 'stdio') return StdioUpstream.start(label, record, opts, events);
  // The HTTP upstreams are loaded only for http/sse versions (a stdio proxy starts faster without them).
  if (record.type === 'http') return (await import('./streamable-http-upstream.js')).StreamableHttpUpstream.start(label, record.url, record.headers, { maxMessageBytes: opts.maxMessageBytes }, events);
  return (await import('./sse-upstream.js')).SseUpstream.start(label, record.url, record.headers, events);
}
