import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { apportion, parsePercentage, setShare, type Share } from './traffic-split.js';
import type { Status } from './types.js';

const s = (version: string, status: Status, trafficPercentage: number): Share => ({ version, status, trafficPercentage });

describe('apportion', () => {
  const table: [number, number[], number[]][] = [
    [90, [90, 10], [81, 9]],
    [100, [1, 1, 1], [34, 33, 33]], // tie: the first listed (the blue) gets the extra point
    [80, [50, 50], [40, 40]],
    [7, [1, 2], [2, 5]],
    [0, [3, 4], [0, 0]],
    [100, [0, 5], [0, 100]],
  ];
  for (const [total, weights, want] of table) {
    it(`${total} over ${JSON.stringify(weights)} -> ${JSON.stringify(want)}`, () => {
      assert.deepEqual(apportion(total, weights), want);
    });
  }
  it('always sums to the total and stays within one point of the exact quota', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 8 }), (total, ws) => {
        fc.pre(ws.some((w) => w > 0));
        const out = apportion(total, ws);
        const sum = ws.reduce((a, b) => a + b, 0);
        assert.equal(out.reduce((a, b) => a + b, 0), total);
        out.forEach((o, i) => assert.ok(Math.abs(o - (total * ws[i]!) / sum) < 1));
      }),
    );
  });
});

describe('setShare', () => {
  it("the issue's example: blue 90, A 10, set new green B to 10 -> 81, 9, 10", () => {
    assert.deepEqual(setShare('s', [s('1.0.0', 'blue', 90), s('1.1.0', 'green', 10), s('1.2.0', 'green', 0)], '1.2.0', 10), [81, 9, 10]);
  });
  it('setting a green to 20 gives exactly 20 (not 17 as the old design did)', () => {
    assert.deepEqual(setShare('s', [s('1.0.0', 'blue', 100), s('2.0.0', 'green', 0)], '2.0.0', 20), [80, 20]);
    assert.deepEqual(setShare('s', [s('1.0.0', 'blue', 80), s('2.0.0', 'green', 20)], '2.0.0', 50), [50, 50]);
    assert.deepEqual(setShare('s', [s('1.0.0', 'blue', 50), s('2.0.0', 'green', 50)], '2.0.0', 100), [0, 100]);
  });
  it('others all at 0: the blue takes the rest', () => {
    assert.deepEqual(setShare('s', [s('1.0.0', 'blue', 0), s('2.0.0', 'green', 100), s('3.0.0', 'green', 0)], '2.0.0', 30), [70, 30, 0]);
  });
  it('setting the blue shares the rest among greens; evenly when they are all at 0', () => {
    assert.deepEqual(setShare('s', [s('1.0.0', 'blue', 100), s('2.0.0', 'green', 0)], '1.0.0', 75), [75, 25]);
    assert.deepEqual(setShare('s', [s('1.0.0', 'blue', 100), s('2.0.0', 'green', 0), s('3.0.0', 'green', 0)], '1.0.0', 95), [95, 3, 2]);
    assert.deepEqual(setShare('s', [s('1.0.0', 'blue', 40), s('2.0.0', 'green', 45), s('3.0.0', 'green', 15)], '1.0.0', 60), [60, 30, 10]);
  });
  it('inactive versions keep 0', () => {
    assert.deepEqual(setShare('s', [s('0.9.0', 'inactive', 0), s('1.0.0', 'blue', 100), s('2.0.0', 'green', 0)], '2.0.0', 10), [0, 90, 10]);
  });
  it('refuses what cannot be done, saying why', () => {
    assert.throws(() => setShare('w', [s('1.0.0', 'blue', 100)], '1.0.0', 50), /no green version can take the other 50%/);
    assert.throws(() => setShare('w', [s('1.0.0', 'green', 0)], '1.0.0', 50), /server "w" has no blue version/);
    assert.throws(() => setShare('w', [s('1.0.0', 'blue', 100), s('0.1.0', 'inactive', 0)], '0.1.0', 5), /inactive/);
    assert.throws(() => setShare('w', [s('1.0.0', 'blue', 100)], '9.9.9', 5), /server "w" has no version "9.9.9"/);
    assert.throws(() => setShare('w', [s('1.0.0', 'blue', 100)], '1.0.0', 101), /integer from 0 to 100/);
  });
  it('property: target gets exactly p, total is 100, inactive stay 0, relative order of others kept', () => {
    const server = fc
      .array(fc.record({ status: fc.constantFrom<Status>('green', 'inactive'), w: fc.integer({ min: 0, max: 100 }) }), { maxLength: 6 })
      .chain((rest) => fc.tuple(fc.constant(rest), fc.integer({ min: 0, max: rest.length }), fc.integer({ min: 0, max: 100 })));
    fc.assert(
      fc.property(server, ([rest, targetIdx, p]) => {
        // Build a valid server: blue first, then greens/inactives, shares normalised to 100.
        const raw = [{ status: 'blue' as Status, w: 1 }, ...rest].map((r) => ({ ...r, w: r.status === 'inactive' ? 0 : r.w }));
        const pcts = apportion(100, raw.map((r) => r.w));
        const shares = raw.map((r, i) => s(`1.0.${i}`, r.status, pcts[i]!));
        const target = shares[targetIdx]!;
        const canTake = shares.some((x) => x !== target && x.status !== 'inactive');
        if (target.status === 'inactive' || (p < 100 && !canTake)) {
          assert.throws(() => setShare('s', shares, target.version, p));
          return;
        }
        const out = setShare('s', shares, target.version, p);
        assert.equal(out[targetIdx], p);
        assert.equal(out.reduce((a, b) => a + b, 0), 100);
        shares.forEach((x, i) => {
          if (x.status === 'inactive') assert.equal(out[i], 0);
        });
        // Proportionality: among the others, a larger share before never becomes smaller by more than a rounding point.
        const others = shares.map((x, i) => ({ x, i })).filter(({ x, i }) => i !== targetIdx && x.status !== 'inactive');
        for (const a of others) for (const b of others) {
          if (a.x.trafficPercentage > b.x.trafficPercentage) assert.ok(out[a.i]! >= out[b.i]! - 1);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parsePercentage', () => {
  it('accepts integers 0-100 given as numbers or digit strings', () => {
    assert.equal(parsePercentage('0'), 0);
    assert.equal(parsePercentage('100'), 100);
    assert.equal(parsePercentage(42), 42);
  });
  for (const bad of ['-1', '101', '12.5', 'abc', '', '1e2', 50.5, NaN]) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parsePercentage(bad), /integer from 0 to 100/));
  }
});
