/**
 * A backend on the legacy HTTP+SSE transport (protocol 2024-11-05), reached with the official SDK's client
 * transport at the transport layer: messages pass through unchanged (no Client, no id rewriting). Streamable
 * HTTP backends have their own upstream (streamable-http-upstream.ts).
 */
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Upstream, UpstreamEvents } from './upstream.js';

export class SseUpstream implements Upstream {
  private open = true;
  private constructor(
    readonly label: string,
    private readonly transport: SSEClientTransport,
  ) {}

  /** Connects (opens the event stream); rejects when the backend cannot be reached. */
  static async start(label: string, url: string, headers: Record<string, string>, events: UpstreamEvents): Promise<SseUpstream> {
    const transport = new SSEClientTransport(new URL(url), { requestInit: { headers } });
    const u = new SseUpstream(label, transport);
    transport.onmessage = (m) => events.message(m);
    let started = false;
    transport.onerror = (e) => {
      // A failed POST is answered by the proxy per request (see send); any error of the event stream once it was
      // open ends the session (its EventSource would reconnect into a new server session, with our state lost).
      const dead = /Failed to open SSE/.test(e.message) || (started && /^SSE error/.test(e.message));
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
      // The EventSource would otherwise keep reconnecting (and keep the process alive).
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

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.transport.close().catch(() => undefined);
  }
}
