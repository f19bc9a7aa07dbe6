/**
 * Newline-delimited framing for stdio: bytes in, one string per line out. A line longer than `maxBytes` is
 * reported (with its size, its first and last bytes) and skipped up to its newline, so one huge message cannot
 * exhaust memory or desynchronise the stream; the ends are enough to find its id (see peek-id.ts).
 */
export interface LineHandlers {
  line(text: string): void;
  /**
   * A line over the limit was dropped; `bytes` counts what was seen of it; `head` and `tail` are its first and
   * last EDGE_BYTES bytes (as UTF-8 text, possibly cut mid-character at the cut end).
   */
  oversize(bytes: number, head: string, tail: string): void;
}

/** How much of each end of a dropped line is kept. */
export const EDGE_BYTES = 256;

export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private skipping = false;
  /** While skipping: the line's first bytes, and a rolling window of its last ones. */
  private head: Buffer = Buffer.alloc(0);
  private tail: Buffer = Buffer.alloc(0);

  /**
   * @param blankLines pass empty (or white-space) lines to `line` too (SSE separates its events with them);
   *   default false: stdio framing skips them
   */
  constructor(
    private readonly maxBytes: number,
    private readonly on: LineHandlers,
    private readonly blankLines = false,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) {
        this.take(chunk.subarray(start));
        return;
      }
      this.take(chunk.subarray(start, nl));
      this.finish();
      start = nl + 1;
    }
  }

  /** The stream ended: a last line without a newline still counts. */
  end(): void {
    if (this.size > 0 || this.skipping) this.finish();
  }

  private take(piece: Buffer): void {
    if (piece.length === 0) return;
    this.size += piece.length;
    if (this.skipping) {
      this.keepTail(piece);
      return;
    }
    if (this.size > this.maxBytes) {
      this.skipping = true;
      const seen = Buffer.concat([...this.parts, piece]);
      this.head = Buffer.from(seen.subarray(0, EDGE_BYTES));
      this.tail = Buffer.alloc(0);
      this.keepTail(seen);
      this.parts = [];
      return;
    }
    this.parts.push(piece);
  }

  private keepTail(piece: Buffer): void {
    this.tail = Buffer.from(piece.length >= EDGE_BYTES ? piece.subarray(piece.length - EDGE_BYTES) : Buffer.concat([this.tail, piece]).subarray(-EDGE_BYTES));
  }

  private finish(): void {
    if (this.skipping) this.on.oversize(this.size, this.head.toString('utf8'), this.tail.toString('utf8').replace(/\r$/, ''));
    else if (this.size > 0) {
      const text = (this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts)).toString('utf8').replace(/\r$/, '');
      if (this.blankLines || text.trim() !== '') this.on.line(text);
    } else if (this.blankLines) this.on.line('');
    this.parts = [];
    this.size = 0;
    this.skipping = false;
  }
}
