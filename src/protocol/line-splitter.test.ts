import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { EDGE_BYTES, LineSplitter } from './line-splitter.js';

function split(chunks: string[], max = 100): { lines: string[]; oversize: number[] } {
  const out = { lines: [] as string[], oversize: [] as number[] };
  const s = new LineSplitter(max, { line: (l) => out.lines.push(l), oversize: (n) => void out.oversize.push(n) });
  for (const c of chunks) s.push(Buffer.from(c));
  s.end();
  return out;
}

describe('LineSplitter', () => {
  it('splits lines across and within chunks, CRLF too, and skips blank lines', () => {
    assert.deepEqual(split(['{"a":1}\n{"b"', ':2}\r\n\n', '{"c":3}']).lines, ['{"a":1}', '{"b":2}', '{"c":3}']);
  });
  it('drops an oversized line, reports it, and carries on with the next', () => {
    const r = split(['x'.repeat(60), 'y'.repeat(60), '\nok\n'], 100);
    assert.deepEqual(r.lines, ['ok']);
    assert.deepEqual(r.oversize, [120]);
  });
  it('reports the first and last bytes of a dropped line, however it was chunked', () => {
    const line = `{"id":1,"pad":"${'p'.repeat(3000)}","end":"${'e'.repeat(300)}"}`;
    for (const size of [1, 7, 100, 5000]) {
      const seen: [number, string, string][] = [];
      const s = new LineSplitter(1000, { line: () => undefined, oversize: (n, head, tail) => seen.push([n, head, tail]) });
      for (let i = 0; i < line.length; i += size) s.push(Buffer.from(line.slice(i, i + size)));
      s.push(Buffer.from('\r\n'));
      // The CR before the newline is part of the line's bytes, and stripped from the tail.
      assert.deepEqual(seen, [[line.length + 1, line.slice(0, EDGE_BYTES), line.slice(-(EDGE_BYTES - 1))]], `chunks of ${size}`);
    }
  });
  it('keeps multi-byte characters split across chunks intact', () => {
    const bytes = Buffer.from('{"t":"héllo wörld"}\n');
    const out: string[] = [];
    const s = new LineSplitter(1000, { line: (l) => out.push(l), oversize: () => undefined });
    s.push(bytes.subarray(0, 8));
    s.push(bytes.subarray(8));
    assert.deepEqual(out, ['{"t":"héllo wörld"}']);
  });
});
