import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { LineSplitter } from './line-splitter.js';

function split(chunks: string[], max = 100): { lines: string[]; oversize: number[] } {
  const out = { lines: [] as string[], oversize: [] as number[] };
  const s = new LineSplitter(max, { line: (l) => out.lines.push(l), oversize: (n) => out.oversize.push(n) });
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
  it('keeps multi-byte characters split across chunks intact', () => {
    const bytes = Buffer.from('{"t":"héllo wörld"}\n');
    const out: string[] = [];
    const s = new LineSplitter(1000, { line: (l) => out.push(l), oversize: () => undefined });
    s.push(bytes.subarray(0, 8));
    s.push(bytes.subarray(8));
    assert.deepEqual(out, ['{"t":"héllo wörld"}']);
  });
});
