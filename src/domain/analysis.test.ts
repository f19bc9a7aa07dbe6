import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { analyse, DEFAULT_THRESHOLDS, type VersionWindow } from './analysis.js';

const w = (o: Partial<VersionWindow>): VersionWindow => ({ requests: 0, errors: 0, toolCalls: 0, toolErrors: 0, crashes: 0, ...o });

describe('analyse', () => {
  it('fails with the figures in the reason: error rate 31% > 10% over 212 requests', () => {
    const a = analyse(w({ requests: 212, errors: 66 }), w({ requests: 800, errors: 4 }));
    assert.equal(a.verdict, 'fail');
    assert.equal(a.reason, 'error rate 31.1% > 10% over 212 requests');
  });
  it('passes a healthy canary', () => {
    const a = analyse(w({ requests: 100, errors: 2, toolCalls: 50, toolErrors: 1, p99Ms: 4 }), w({ requests: 400, errors: 4, p99Ms: 3 }));
    assert.equal(a.verdict, 'pass');
    assert.match(a.reason, /error rate 2% over 100 requests/);
  });
  it('too little traffic is inconclusive, never a failure', () => {
    const a = analyse(w({ requests: 5, errors: 5 }), w({ requests: 400 }));
    assert.equal(a.verdict, 'inconclusive');
    assert.equal(a.reason, 'only 5 requests, 20 needed to judge the error rate');
  });
  it('a crash fails even without traffic (a crash loop is never progress)', () => {
    const a = analyse(w({ crashes: 2 }), undefined);
    assert.equal(a.verdict, 'fail');
    assert.equal(a.reason, '2 backend crashes > 0 allowed');
  });
  it('relative to the stable version over the same window', () => {
    const a = analyse(w({ requests: 100, errors: 9 }), w({ requests: 100, errors: 1 }));
    assert.equal(a.verdict, 'fail');
    assert.equal(a.reason, 'error rate 9% > stable 1% + 5% over 100 requests');
    // The same 9% passes when the stable version is as bad: the problem is not the candidate's.
    assert.equal(analyse(w({ requests: 100, errors: 9 }), w({ requests: 100, errors: 8 })).verdict, 'pass');
  });
  it('tool isError rate and latency', () => {
    assert.equal(analyse(w({ requests: 50, toolCalls: 40, toolErrors: 14 }), undefined).reason, 'tool error rate 35% > 25% over 40 tool calls');
    assert.equal(analyse(w({ requests: 50, p99Ms: 250 }), w({ requests: 50, p99Ms: 50 })).reason, 'p99 latency 250 ms > 3x stable 50 ms');
    // Slower by a factor but by less than 100 ms: noise, not a regression worth a rollback.
    assert.equal(analyse(w({ requests: 50, p99Ms: 100 }), w({ requests: 50, p99Ms: 25 })).verdict, 'pass');
    assert.equal(analyse(w({ requests: 50, p99Ms: 0.9 }), w({ requests: 50, p99Ms: 0.2 })).verdict, 'pass');
    assert.equal(analyse(w({ requests: 50, p99Ms: 120 }), undefined, { ...DEFAULT_THRESHOLDS, maxP99Ms: 100 }).reason, 'p99 latency 120 ms > 100 ms');
  });
  it('a stable version with too little data is not used for comparison', () => {
    assert.equal(analyse(w({ requests: 100, errors: 9 }), w({ requests: 3, errors: 0 })).verdict, 'pass');
  });
});
