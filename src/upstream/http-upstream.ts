/**
 * An HTTP backend (Streamable HTTP, or the legacy HTTP+SSE transport), reached with the official SDK's client
 * transports at the transport layer: messages pass through unchanged (no Client, no id rewriting).
 */
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Upstream, UpstreamEvents } from './upstream.js';

export class HttpUpstream implements Upstream {
  private open = true;
  private constructor(
    readonly label: string,
    private readonly transport: StreamableHTTPClientTransport | SSEClientTransport,
  ) {}

  /** Connects (SSE: opens the event stream); rejects when the backend cannot be reached. */
  static async start(label: string, kind: 'http' | 'sse', url: string, headers: Record<string, string>, events: UpstreamEvents): Promise<HttpUpstream> {
    const init = { requestInit: { headers } };
    const transport = kind === 'http' ? new StreamableHTTPClientTransport(new URL(url), init) : new SSEClientTransport(new URL(url), init);
    const u = new HttpUpstream(label, transport);
    transport.onmessage = (m) => events.message(m);
    let started = false;
    transport.onerror = (e) => {
      // A failed POST is answered by the proxy per request (see send); a dead stream ends the session: the
      // Streamable HTTP stream's disconnect, or any error of the legacy transport's event stream once it was
      // open (its EventSource would reconnect into a new server session, with our state lost).
      const dead = /SSE stream disconnected|Failed to open SSE/.test(e.message) || (kind === 'sse' && started && /^SSE error/.test(e.message));
      if (!dead || !u.open) return;
      u.open = false;
      events.close(`${label}: ${e.message}`, true);
      void transport.close().catch(() => undefined);
    };
    transport.onclose = () => {
      const was = u.open;
      u.open = false;
      events.close(was ? `${label} closed the connection` : 'closed', was);
    };
    u.onSendError = (m, e) => events.message({ jsonrpc: '2.0', id: (m as { id?: unknown }).id ?? null, error: { code: -32603, message: `${label} failed: ${e.message}` } });
    try {
      await transport.start();
      started = true;
    } catch (e) {
      // The legacy SSE transport's EventSource would otherwise keep reconnecting (and keep the process alive).
      u.open = false;
      await transport.close().catch(() => undefined);
      throw e;
    }
    return u;
  }

  private onSendError: (m: unknown, e: Error) => void = () => undefined;

  get alive(): boolean {
    return this.open;
  }

  send(message: unknown): void {
    if (!this.open) return;
    this.transport.send(message as JSONRPCMessage).catch((e: Error) => {
      // Only requests are answered: a lost notification or response has nobody to tell.
      const m = message as { id?: unknown; method?: unknown };
      if (m.method !== undefined && m.id !== undefined) this.onSendError(message, e);
    });
  }

  negotiated(protocolVersion: string): void {
    if (this.transport instanceof StreamableHTTPClientTransport) this.transport.setProtocolVersion(protocolVersion);
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    if (this.transport instanceof StreamableHTTPClientTransport && this.transport.sessionId !== undefined) {
      await this.transport.terminateSession().catch(() => undefined);
    }
    await this.transport.close().catch(() => undefined);
  }
}
