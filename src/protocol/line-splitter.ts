/**
 * Newline-delimited framing for stdio: bytes in, one string per line out. A line longer than `maxBytes` is
 * reported (with its size) and skipped up to its newline, so one huge message cannot exhaust memory or
 * desynchronise the stream.
 */
export interface LineHandlers {
  line(text: string): void;
  /** A line over the limit was dropped; `bytes` counts what was seen of it. */
  oversize(bytes: number): void;
}

export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private skipping = false;

  constructor(
    private readonly maxBytes: number,
    private readonly on: LineHandlers,
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
    if (this.skipping) return;
    if (this.size > this.maxBytes) {
      this.skipping = true;
      this.parts = [];
      return;
    }
    this.parts.push(piece);
  }

  private finish(): void {
    if (this.skipping) this.on.oversize(this.size);
    else if (this.size > 0) {
      const text = (this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts)).toString('utf8').replace(/\r$/, '');
      if (text.trim() !== '') this.on.line(text);
    }
    this.parts = [];
    this.size = 0;
    this.skipping = false;
  }
}
