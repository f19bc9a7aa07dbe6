import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DEFAULT_RESTART_POLICY, restartDecision } from './restart-backoff.js';

describe('restartDecision', () => {
  const min = 60_000;
  const cases: { name: string; deaths: number[]; now: number; want: ReturnType<typeof restartDecision> }[] = [
    { name: 'first death: base delay', deaths: [1000], now: 1000, want: { restart: true, delayMs: 1000 } },
    { name: 'second death within the window: doubled', deaths: [1000, 3000], now: 3000, want: { restart: true, delayMs: 2000 } },
    { name: 'third death within the window: held until the first leaves it', deaths: [1000, 3000, 6000], now: 6000, want: { restart: false, until: 1000 + min } },
    { name: 'old deaths are forgotten', deaths: [1000, 3000, 6000, 6000 + 2 * min], now: 6000 + 2 * min, want: { restart: true, delayMs: 1000 } },
    { name: 'after a hold, the next death within the window holds again', deaths: [1000, 3000, 6000, 62_000], now: 62_000, want: { restart: false, until: 3000 + min } },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(restartDecision(c.deaths, c.now), c.want));

  it('the delay never exceeds maxDelayMs', () => {
    const policy = { ...DEFAULT_RESTART_POLICY, maxDeaths: 100, maxDelayMs: 5000 };
    assert.deepEqual(restartDecision(Array.from({ length: 20 }, (_, i) => i), 20, policy), { restart: true, delayMs: 5000 });
  });
});
