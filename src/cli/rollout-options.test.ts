import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { AppError } from '../errors.js';
import { parseArgs } from './args.js';
import { parseDuration, ROLLOUT_OPTIONS, rolloutSpecFrom } from './rollout-options.js';

describe('parseDuration', () => {
  const ok: [string, number][] = [
    ['500ms', 500],
    ['15s', 15_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['1h', 3_600_000],
    [' 30s ', 30_000],
    ['0', 0],
    ['0.0', 0],
    ['0ms', 0],
  ];
  for (const [text, ms] of ok) it(`"${text}" is ${ms} ms`, () => assert.equal(parseDuration(text, 'interval'), ms));

  const refused: [string, RegExp][] = [
    ['30', /^--interval "30" needs a unit: 30ms, 30s or 30m$/],
    ['1.5', /^--interval "1\.5" needs a unit: 1\.5ms, 1\.5s or 1\.5m$/],
    ['soon', /^--interval "soon" is not a duration such as 500ms, 30s, 5m or 1h$/],
    ['-5s', /is not a duration/],
    ['5 s', /is not a duration/],
    ['5d', /is not a duration/],
    ['', /is not a duration/],
  ];
  for (const [text, message] of refused) {
    it(`"${text}" is a usage error`, () => {
      assert.throws(() => parseDuration(text, 'interval'), (e: unknown) => e instanceof AppError && e.code === 'usage' && message.test(e.message));
    });
  }
});

describe('rolloutSpecFrom thresholds', () => {
  const spec = (...words: string[]) => rolloutSpecFrom(parseArgs(['--strategy', 'canary', ...words], { positionals: [], options: ROLLOUT_OPTIONS }), 'w', '2.0.0')!;
  it('--min-tool-calls sets the tool calls needed before the tool error rate is judged (default 10)', () => {
    assert.equal(spec().thresholds.minToolCalls, 10);
    assert.equal(spec('--min-tool-calls', '60').thresholds.minToolCalls, 60);
    assert.equal(spec('--min-requests', '90').thresholds.minToolCalls, 10, 'apart from --min-requests');
  });
  it('--min-tool-calls 0 is a usage error', () => {
    assert.throws(() => spec('--min-tool-calls', '0'), (e: unknown) => e instanceof AppError && e.code === 'usage' && /--min-tool-calls must be an integer from 1/.test(e.message));
  });
});
