import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CrashThrottle } from './crash-throttle.js';

describe('CrashThrottle', () => {
  const rows: [string, number, number[], number, string][] = [
    ['nothing booked: allowed', 3, [], 0, 'allowed'],
    ['two of three within the window: allowed', 3, [0, 10_000], 20_000, 'allowed'],
    ['three within the window: held until the oldest leaves it', 3, [0, 10_000, 20_000], 30_000, 'held 3 until 60000'],
    ['the oldest has left the window: allowed', 3, [0, 10_000, 20_000], 60_000, 'allowed'],
    ['four booked: held until the window holds fewer than three', 3, [0, 10_000, 20_000, 30_000], 40_000, 'held 4 until 70000'],
    ['a whole minute ago does not count', 1, [0], 60_000, 'allowed'],
    ['just within the minute counts', 1, [0], 59_999, 'held 1 until 60000'],
  ];
  for (const [name, max, booked, now, want] of rows) {
    it(name, () => {
      const t = new CrashThrottle(max);
      for (const at of booked) t.record(at);
      const v = t.check(now);
      assert.equal(v.allowed ? 'allowed' : `held ${v.count} until ${v.until}`, want);
    });
  }
});
