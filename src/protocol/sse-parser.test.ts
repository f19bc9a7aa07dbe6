import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { peekId } from './peek-id.js';
import { SseParser, type SseEvent } from './sse-parser.js';

function parse(chunks: string[], max = 100): { events: SseEvent[]; oversize: { bytes: number; id: unknown }[]; retry: number[]; last: string | undefined } {
  const out = { events: [] as SseEvent[], oversize: [] as { bytes: number; id: unknown }[], retry: [] as number[], last: undefined as string | undefined };
  const p = new SseParser(max, {
    event: (e) => void out.events.push(e),
    oversize: (bytes, head, tail) => void out.oversize.push({ bytes, id: peekId(head, tail) }),
    retry: (ms) => void out.retry.push(ms),
  });
  for (const c of chunks) p.push(Buffer.from(c));
  p.end();
  out.last = p.lastEventId;
  return out;
}

describe('SseParser', () => {
  const cases: { name: string; chunks: string[]; events: SseEvent[]; last?: string }[] = [
    { name: 'one event per blank line, split anywhere, CRLF too', chunks: ['data: {"a"', ':1}\r\n\r', '\ndata:{"b":2}\n\n'], events: [{ data: '{"a":1}' }, { data: '{"b":2}' }] },
    { name: 'data lines joined with a newline; one leading space taken off', chunks: ['data:  x\ndata: y\n\n'], events: [{ data: ' x\ny' }] },
    { name: 'an id-only priming event sets the last id without an event; later events carry it', chunks: ['id: 7\ndata:\n\n', 'id: 8\nevent: message\ndata: {}\n\n'], events: [{ data: '', id: '7' }, { data: '{}', id: '8', event: 'message' }], last: '8' },
    { name: 'comments and unknown fields are ignored; an unfinished event at the end is discarded', chunks: [': keep-alive\nfoo: bar\ndata: 1\n\ndata: 2\n'], events: [{ data: '1' }] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = parse(c.chunks);
      assert.deepEqual(r.events, c.events);
      assert.equal(r.last, c.last);
    });
  }

  it('drops an event whose data is over the limit, reports its size and id, and carries on', () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 'big', result: { pad: 'x'.repeat(300) } });
    const r = parse([`data: ${big.slice(0, 50)}`, `${big.slice(50)}\n\ndata: {"ok":1}\n\n`]);
    assert.deepEqual(r.events, [{ data: '{"ok":1}' }]);
    assert.equal(r.oversize.length, 1);
    assert.equal(r.oversize[0]!.id, 'big');
    assert.ok(r.oversize[0]!.bytes >= big.length);
  });

  it('counts an event over the limit across several data lines', () => {
    const r = parse(['data: ' + 'a'.repeat(60) + '\n', 'data: ' + 'b'.repeat(60) + '\n\ndata: next\n\n']);
    assert.deepEqual(r.events, [{ data: 'next' }]);
    assert.deepEqual(r.oversize.map((o) => o.bytes), [121]);
  });

  it('passes the retry field on', () => {
    assert.deepEqual(parse(['retry: 1500\nretry: soon\n\n']).retry, [1500]);
  });
});
