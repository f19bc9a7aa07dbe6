/**
 * The stdio proxy's client-facing transport: newline-delimited JSON-RPC on the client's stdin and stdout. It
 * only turns bytes into messages and back; what a message means is the session core's (sessions/proxy-*.ts).
 * It answers on its own only what never reaches a session: a line that is not JSON gets -32700, one that is
 * not a JSON-RPC object or non-empty batch gets -32600. A line over the size limit is skipped, and reported
 * with the id its ends show, for the session to say who waits on it.
 */
import type { Readable, Writable } from 'node:stream';
import { LineSplitter } from '../protocol/line-splitter.js';
import { peekId } from '../protocol/peek-id.js';

type Id = string | number;

/** A message from the client as the session core reads it. */
export type ClientMessage = { jsonrpc?: string; id?: Id | null; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: unknown };

export interface StdioFrontEvents {
  /** A JSON-RPC object or non-empty batch; `text` is its line as read (forwarded as is where it can be). */
  message(msg: ClientMessage | ClientMessage[], text: string): void;
  /**
   * A line over the limit was skipped; `id` is the id its ends showed (undefined: none seen); `what` says so
   * ("message of N bytes exceeds the limit of M").
   */
  oversize(id: Id | null | undefined, what: string): void;
  /** The client is gone: its input ended or failed, or its output failed (its reader left: EPIPE). */
  gone(): void;
}

export class StdioFront {
  private closed = false;

  /** @param maxMessageBytes largest line read, bytes (a longer one is skipped and reported) */
  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly maxMessageBytes: number,
  ) {}

  /** Starts reading the client; events until `close()` or the client goes. */
  start(events: StdioFrontEvents): void {
    this.output.on('error', () => events.gone());
    const lines = new LineSplitter(this.maxMessageBytes, {
      line: (text) => this.parse(text, events),
      oversize: (bytes, head, tail) => events.oversize(peekId(head, tail), `message of ${bytes} bytes exceeds the limit of ${this.maxMessageBytes}`),
    });
    this.input.on('data', (c: Buffer) => lines.push(c));
    this.input.on('end', () => {
      lines.end();
      events.gone();
    });
    this.input.on('error', () => events.gone());
  }

  /** One message to the client (dropped once the front is closed or its output is gone). */
  send(m: unknown): void {
    this.sendText(JSON.stringify(m));
  }

  /** One message to the client as serialised already (a backend's line, passed on as it came). */
  sendText(text: string): void {
    if (!this.closed && this.output.writable) this.output.write(text + '\n');
  }

  /** Nothing more is written, nor read (lets a process whose stdin is still open exit). */
  close(): void {
    this.closed = true;
    if (!this.input.readableEnded) this.input.destroy();
  }

  private parse(text: string, events: StdioFrontEvents): void {
    let msg: ClientMessage | ClientMessage[];
    try {
      msg = JSON.parse(text) as ClientMessage | ClientMessage[];
    } catch (e) {
      return this.send({ jsonrpc: '2.0', id: null, error: { code: -32700, message: `Parse error: ${(e as Error).message}` } });
    }
    if (typeof msg !== 'object' || msg === null) {
      return this.send({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: expected a JSON-RPC object or batch' } });
    }
    if (Array.isArray(msg) && msg.length === 0) {
      return this.send({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: an empty batch' } });
    }
    events.message(msg, text);
  }
}
