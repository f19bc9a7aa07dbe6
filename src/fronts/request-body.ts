/** Reading a client's HTTP request: its body within a size limit, and its single-valued headers. */
import type { IncomingMessage } from 'node:http';

/** A header's value when it was sent once (undefined when absent or repeated). */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * Reads a request body of at most `limit` bytes and calls `done` once: with the body as soon as its last byte is
 * in (the Content-Length is reached, before the stream's end event), or with undefined when it is over the
 * limit (the rest is drained). `fail` gets a stream error.
 */
export function readBody(req: IncomingMessage, limit: number, done: (body: Buffer | undefined) => void, fail: (e: Error) => void): void {
  const expected = Number(req.headers['content-length']);
  const parts: Buffer[] = [];
  let size = 0;
  let called = false;
  const finish = (body: Buffer | undefined): void => {
    if (called) return;
    called = true;
    done(body);
  };
  req.on('data', (c: Buffer) => {
    if (called) return;
    size += c.length;
    if (size > limit) {
      req.resume();
      return finish(undefined);
    }
    parts.push(c);
    if (size === expected) finish(parts.length === 1 ? parts[0] : Buffer.concat(parts));
  });
  req.on('end', () => finish(size > limit ? undefined : Buffer.concat(parts)));
  req.on('error', (e) => {
    if (called) return;
    called = true;
    fail(e);
  });
  // A stream not yet read hands its first chunk to 'data' listeners a tick late. read(0) consumes nothing and
  // makes the body reach `done` as the HTTP parser sees it: in the same turn as the request's headers.
  req.read(0);
}
