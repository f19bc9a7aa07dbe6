import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { EDGE_BYTES } from './line-splitter.js';
import { peekId } from './peek-id.js';

/** The two ends of a serialised message, as LineSplitter keeps them. */
const ends = (m: unknown): [string, string] => {
  const t = JSON.stringify(m);
  return [t.slice(0, EDGE_BYTES), t.slice(-EDGE_BYTES)];
};
const pad = 'x'.repeat(5000);

describe('peekId', () => {
  const cases: [string, unknown, string | number | null | undefined][] = [
    ['id first (after jsonrpc)', { jsonrpc: '2.0', id: 0, method: 'tools/call', params: { pad } }, 0],
    ['id first, no jsonrpc', { id: 'a"b', method: 'x', params: { pad } }, 'a"b'],
    ['id last (SDK servers)', { result: { pad }, jsonrpc: '2.0', id: 17 }, 17],
    ['id last, string', { result: { pad }, jsonrpc: '2.0', id: 'req-9' }, 'req-9'],
    ['id before a trailing jsonrpc', { result: { pad }, id: -3, jsonrpc: '2.0' }, -3],
    ['id null', { jsonrpc: '2.0', id: null, error: { code: 1, message: pad } }, null],
    ['a notification: none', { jsonrpc: '2.0', method: 'notifications/message', params: { data: pad } }, undefined],
    ['an id nested at the end is not the message\'s', { jsonrpc: '2.0', method: 'x', params: { pad, id: 5 } }, undefined],
    ['an id nested at the start is not the message\'s', { jsonrpc: '2.0', method: 'x', params: { id: 5, pad } }, undefined],
  ];
  for (const [name, message, expected] of cases) {
    it(name, () => assert.equal(peekId(...ends(message)), expected));
  }
  it('a CRLF or whitespace after the message does not hide a trailing id', () => {
    assert.equal(peekId('', `${JSON.stringify({ result: {}, jsonrpc: '2.0', id: 4 })}  `), 4);
  });
});
