/**
 * Server-sent events, parsed as they arrive (the WHATWG event stream format a Streamable HTTP backend answers
 * in): bytes in, one event per blank line out. Memory is bounded: an event whose data grows past `maxBytes` is
 * dropped and reported with its size and its ends (enough to find its JSON-RPC id, see peek-id.ts), and the
 * stream goes on with the next event. Lines end with LF or CRLF (a lone CR, allowed by the format, is not
 * recognised: no MCP server writes it).
 */
import { EDGE_BYTES, LineSplitter } from './line-splitter.js';

export interface SseEvent {
  /** The event's data lines joined with "\n". */
  data: string;
  /** The last event id the stream set, at this event (absent until the stream sets one). */
  id?: string;
  /** The event type (absent: "message"). */
  event?: string;
}

export interface SseHandlers {
  event(e: SseEvent): void;
  /** An event whose data was over the limit was dropped: its size (bytes seen) and its data's ends. */
  oversize(bytes: number, head: string, tail: string): void;
  /** The stream asked for this reconnection delay, ms. */
  retry?(ms: number): void;
}

/** Room for a data line's field name ("data: ") beyond the limit on the data itself. */
const FIELD_BYTES = 6;

export class SseParser {
  /** The stream's last event id (set by an `id:` field, even on an event without data). */
  lastEventId: string | undefined;
  private readonly lines: LineSplitter;
  private data: string[] = [];
  private dataBytes = 0;
  private type: string | undefined;
  private dropped: { bytes: number; head: string; tail: string } | undefined;

  /** @param maxBytes the largest event data passed on, bytes */
  constructor(
    private readonly maxBytes: number,
    private readonly on: SseHandlers,
  ) {
    this.lines = new LineSplitter(maxBytes + FIELD_BYTES, { line: (l) => this.line(l), oversize: (b, h, t) => this.longLine(b, h, t) }, true);
  }

  push(chunk: Buffer): void {
    this.lines.push(chunk);
  }

  /** The stream ended: an event not closed by a blank line is discarded, as the format says. */
  end(): void {
    this.lines.end();
    this.reset();
  }

  private line(text: string): void {
    if (text === '') return this.dispatch();
    if (text.startsWith(':')) return; // a comment (a keep-alive)
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    const value = colon === -1 ? '' : text.charCodeAt(colon + 1) === 32 ? text.slice(colon + 2) : text.slice(colon + 1);
    switch (field) {
      case 'data': {
        const bytes = Buffer.byteLength(value) + (this.data.length > 0 ? 1 : 0);
        if (this.dropped) {
          this.dropped.bytes += bytes;
          this.dropped.tail = (this.dropped.tail + '\n' + value).slice(-EDGE_BYTES);
        } else if (this.dataBytes + bytes > this.maxBytes) {
          const seen = this.data.join('\n');
          this.dropped = { bytes: this.dataBytes + bytes, head: (seen + '\n' + value).slice(0, EDGE_BYTES), tail: (seen + '\n' + value).slice(-EDGE_BYTES) };
          this.data = [];
        } else {
          this.data.push(value);
          this.dataBytes += bytes;
        }
        return;
      }
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        return;
      case 'event':
        this.type = value;
        return;
      case 'retry':
        if (/^\d+$/.test(value)) this.on.retry?.(Number(value));
        return;
      default:
        return; // unknown fields are ignored
    }
  }

  /** A line over the limit: if it was data, its event is dropped. */
  private longLine(bytes: number, head: string, tail: string): void {
    if (!head.startsWith('data:')) return;
    const start = head.startsWith('data: ') ? 6 : 5;
    if (this.dropped) {
      this.dropped.bytes += bytes - start;
      this.dropped.tail = tail;
    } else this.dropped = { bytes: this.dataBytes + bytes - start, head: (this.data.length > 0 ? this.data.join('\n') + '\n' : '') + head.slice(start), tail };
    this.data = [];
  }

  private dispatch(): void {
    if (this.dropped) this.on.oversize(this.dropped.bytes, this.dropped.head.slice(0, EDGE_BYTES), this.dropped.tail);
    else if (this.data.length > 0) {
      const e: SseEvent = { data: this.data.join('\n') };
      if (this.lastEventId !== undefined) e.id = this.lastEventId;
      if (this.type !== undefined && this.type !== '') e.event = this.type;
      this.on.event(e);
    }
    this.reset();
  }

  private reset(): void {
    this.data = [];
    this.dataBytes = 0;
    this.type = undefined;
    this.dropped = undefined;
  }
}
