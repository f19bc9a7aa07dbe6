/**
 * The client-facing transport of a bridged session as one SessionBridge sees it. A session that moves gets a
 * new bridge (a backend on the new version) behind the same front, so the client keeps its session id and its
 * streams; each bridge talks to the front through a link of its own:
 * - the router hands client messages to the current link only (`deliver`);
 * - a link whose bridge was left behind is `detach`ed: its bridge still answers the requests it holds through
 *   it, but closing it no longer closes the front;
 * - the router's own requests (the replayed initialize, list reads) go in through `request`, and their answers
 *   are taken out of the stream instead of reaching the client.
 */
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { StreamableFront } from '../fronts/streamable-front.js';
import { PrivateRequests, type Answer } from './private-requests.js';

export class FrontLink implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (e: Error) => void;
  private detached = false;
  private readonly own = new PrivateRequests();

  constructor(private readonly front: Transport) {}

  async start(): Promise<void> {}

  /** A message from the client, for this link's bridge. */
  deliver(m: JSONRPCMessage): void {
    this.onmessage?.(m);
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.own.take(message as Answer)) return Promise.resolve();
    return this.front.send(message, options);
  }

  /** The bridge behind it was left: closing it no longer closes the front. */
  detach(): void {
    this.detached = true;
  }

  async close(): Promise<void> {
    this.own.clear();
    if (!this.detached) await this.front.close();
  }

  /**
   * A request of the router's own to the bridge's backend; resolves with its answer, or with undefined when
   * none came within `timeoutMs` (ms) or the link closed.
   */
  request(method: string, params: Record<string, unknown>, timeoutMs: number): Promise<Answer | undefined> {
    return this.own.request((m) => this.onmessage?.(m as JSONRPCMessage), method, params, timeoutMs);
  }

  /** A notification of the router's own to the client (list_changed after a move): on the front's standalone stream. */
  notify(method: string): void {
    // The Streamable HTTP front keeps it for a GET stream its client has not opened yet.
    if (this.front instanceof StreamableFront) this.front.notice(method);
    else this.front.send({ jsonrpc: '2.0', method } as JSONRPCMessage).catch(() => undefined);
  }
}
