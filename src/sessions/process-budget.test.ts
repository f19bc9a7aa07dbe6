import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { admitProcess, idleExpired } from './process-budget.js';

const h = (name: string, lastUsed: number, busy = false) => ({ name, lastUsed, busy });

describe('process budget', () => {
  const table: [string, ReturnType<typeof h>[], number, string | undefined | false][] = [
    ['below the cap: admitted, nothing ended', [h('a', 1), h('b', 2)], 3, undefined],
    ['at the cap: the least recently used idle session gives way', [h('a', 5), h('b', 2), h('c', 9)], 3, 'b'],
    ['a busy session is passed over however old', [h('a', 1, true), h('b', 4), h('c', 3)], 3, 'c'],
    ['every session busy: refused', [h('a', 1, true), h('b', 2, true)], 2, false],
    ['a cap of one with its session idle', [h('a', 7)], 1, 'a'],
  ];
  for (const [label, holders, cap, expected] of table) {
    it(label, () => {
      const d = admitProcess(holders, cap);
      if (expected === false) return assert.deepEqual(d, { admit: false });
      assert.equal(d.admit, true);
      assert.equal(d.admit && d.evict?.name, expected);
    });
  }

  it('idle expiry takes idle sessions at or past the timeout, never a busy one', () => {
    const holders = [h('old', 0), h('edge', 400), h('fresh', 900), h('busy', 0, true)];
    assert.deepEqual(idleExpired(holders, 1000, 600).map((x) => x.name), ['old', 'edge']);
  });
});
