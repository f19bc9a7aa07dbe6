/**
 * An HTTP backend (Streamable HTTP, or the legacy HTTP+SSE transport), reached with the official SDK's client
 * transports at the transport layer: messages pass through unchanged (no Client, no id rewriting).
 */
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { mcpRequestHeaders } from '../protocol/modern-headers.js';
import type { Upstream, UpstreamEvents } from './upstream.js';

export class HttpUpstream implements Upstream {
  private open = true;
  /** The protocol version the initialize result settled (legacy era), once it passed. */
  private version: string | undefined;
  private constructor(
    readonly label: string,
    private readonly transport: StreamableHTTPClientTransport | SSEClientTransport,
  ) {}

  /** Connects (SSE: opens the event stream); rejects when the backend cannot be reached. */
  static async start(label: string, kind: 'http' | 'sse', url: string, headers: Record<string, string>, events: UpstreamEvents): Promise<HttpUpstream> {
    let u: HttpUpstream | undefined;
    const init = { requestInit: { headers } };
    const transport =
      kind === 'http'
        ? new StreamableHTTPClientTransport(new URL(url), { ...init, fetch: withMcpHeaders(() => u?.version) })
        : new SSEClientTransport(new URL(url), init);
    u = new HttpUpstream(label, transport);
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
    this.version = protocolVersion;
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

/**
 * `fetch` for the Streamable HTTP transport that adds the headers each POST's message requires
 * (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`; see mcpRequestHeaders), over the SDK's and the version's
 * configured ones. The v1 SDK transport sends only the negotiated version, which the 2026-07-28 revision has
 * none of: a backend that checks the headers would answer every modern request 400. The message is read back
 * from the body the transport serialised (the transport offers no per-message headers), so the headers are
 * derived from exactly what is sent.
 */
function withMcpHeaders(negotiated: () => string | undefined): FetchLike {
  return (url, init) => {
    if (init?.method !== 'POST' || typeof init.body !== 'string') return fetch(url, init);
    let message: unknown;
    try {
      message = JSON.parse(init.body);
    } catch {
      return fetch(url, init); // not ours to judge: the backend answers what it cannot parse
    }
    const headers = new Headers(init.headers);
    for (const [k, v] of Object.entries(mcpRequestHeaders(message, negotiated()))) headers.set(k, v);
    return fetch(url, { ...init, headers });
  };
}
