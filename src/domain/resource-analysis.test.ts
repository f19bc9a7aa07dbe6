import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { analyse, type VersionWindow } from './analysis.js';
import { analyseResources, DEFAULT_RESOURCE_THRESHOLDS as T, type ResourceWindow } from './resource-analysis.js';

const MB = 1024 * 1024;
const r = (o: Partial<ResourceWindow>): ResourceWindow => ({ samples: 60, spanMs: 60_000, rssGrowthBytes: 0, cpuSeconds: 0, requests: 600, ...o });
const w = (o: Partial<VersionWindow>): VersionWindow => ({ requests: 600, errors: 0, toolCalls: 0, toolErrors: 0, crashes: 0, ...o });

describe('analyseResources', () => {
  const cases: { name: string; candidate: ResourceWindow; blue?: ResourceWindow; memory: string; cpu: string; message?: RegExp }[] = [
    { name: 'a leak: far over the limit and the blue', candidate: r({ rssGrowthBytes: 180 * MB }), blue: r({ rssGrowthBytes: 2 * MB }), memory: 'fail', cpu: 'pass', message: /^resident memory grew 180 MB in 60 s, blue 2 MB$/ },
    { name: 'a green warming up: 30 MB is under the 50 MB limit', candidate: r({ rssGrowthBytes: 30 * MB }), blue: r({ rssGrowthBytes: 0 }), memory: 'pass', cpu: 'pass' },
    { name: 'over 50 MB but the blue grows as much: not the green\'s fault', candidate: r({ rssGrowthBytes: 60 * MB }), blue: r({ rssGrowthBytes: 15 * MB }), memory: 'pass', cpu: 'pass' },
    { name: 'over 50 MB and over 4x the blue + 20 MB', candidate: r({ rssGrowthBytes: 90 * MB }), blue: r({ rssGrowthBytes: 15 * MB }), memory: 'fail', cpu: 'pass' },
    { name: 'no blue figures: memory on the absolute limit alone, CPU not judged', candidate: r({ rssGrowthBytes: 51 * MB, cpuSeconds: 60 }), memory: 'fail', cpu: 'skipped', message: /blue not measured/ },
    { name: 'CPU regression: 10 ms per request against the blue\'s 1 ms', candidate: r({ cpuSeconds: 6 }), blue: r({ cpuSeconds: 0.6 }), memory: 'pass', cpu: 'fail' },
    { name: 'CPU 3x the blue but under 5 ms: noise on a light server', candidate: r({ cpuSeconds: 2.4 }), blue: r({ cpuSeconds: 0.3 }), memory: 'pass', cpu: 'pass' },
    { name: 'CPU over 5 ms but as heavy as the blue', candidate: r({ cpuSeconds: 12 }), blue: r({ cpuSeconds: 6 }), memory: 'pass', cpu: 'pass' },
    { name: 'too few requests to divide by', candidate: r({ requests: 3, cpuSeconds: 3 }), blue: r({ cpuSeconds: 0.1 }), memory: 'pass', cpu: 'skipped' },
    { name: 'no samples at all: inconclusive, never a failure', candidate: r({ samples: 0, spanMs: 0 }), blue: r({}), memory: 'inconclusive', cpu: 'inconclusive', message: /^0 resource samples, 5 s of samples needed to judge memory growth$/ },
    { name: 'samples over too short a span', candidate: r({ samples: 3, spanMs: 2000, rssGrowthBytes: 500 * MB }), blue: r({}), memory: 'inconclusive', cpu: 'inconclusive', message: /resource samples over 2 s/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const [memory, cpu] = analyseResources(c.candidate, c.blue, T, 20);
      assert.equal(memory!.verdict, c.memory, memory!.message);
      assert.equal(cpu!.verdict, c.cpu, cpu!.message);
      if (c.message) assert.match(memory!.message, c.message);
    });
  }
  it('names CPU figures of both versions', () => {
    const [, cpu] = analyseResources(r({ cpuSeconds: 6 }), r({ cpuSeconds: 0.6 }), T, 20);
    assert.equal(cpu!.message, 'CPU 10 ms per request over 600 requests, blue 1 ms');
  });
});

describe('analyse with resources', () => {
  it('a leaking candidate fails the whole analysis, its figures in the reason', () => {
    const a = analyse(w({ resources: r({ rssGrowthBytes: 180 * MB }) }), w({ resources: r({ rssGrowthBytes: 2 * MB }) }));
    assert.equal(a.verdict, 'fail');
    assert.equal(a.reason, 'resident memory grew 180 MB in 60 s, blue 2 MB');
  });
  it('a healthy managed candidate passes with its resource figures', () => {
    const a = analyse(w({ resources: r({ rssGrowthBytes: 3 * MB, cpuSeconds: 0.6 }) }), w({ resources: r({ rssGrowthBytes: 1 * MB, cpuSeconds: 0.6 }) }));
    assert.equal(a.verdict, 'pass');
    assert.match(a.reason, /resident memory grew 3 MB in 60 s, blue 1 MB; CPU 1 ms per request over 600 requests, blue 1 ms/);
  });
  it('a managed candidate without samples is inconclusive', () => {
    assert.equal(analyse(w({ resources: r({ samples: 0, spanMs: 0 }) }), w({})).verdict, 'inconclusive');
  });
  it('a version the system does not run (no resources) is judged as before', () => {
    const a = analyse(w({}), w({}));
    assert.equal(a.verdict, 'pass');
    assert.ok(!a.metrics.some((m) => m.metric === 'memory-growth' || m.metric === 'cpu-per-request'));
  });
  it('a saved spec whose thresholds predate the resource criteria gets the defaults', () => {
    const { maxMemoryGrowthBytes: _a, memoryGrowthRatio: _b, memoryGrowthMarginBytes: _c, maxCpuMsPerRequest: _d, cpuRatio: _e, minResourceSpanMs: _f, ...old } = { ...T, maxErrorRate: 0.1, maxErrorRateIncrease: 0.05, maxToolErrorRate: 0.25, maxP99Ratio: 3, minP99IncreaseMs: 100, maxCrashes: 0, minRequests: 20, minToolCalls: 10 };
    assert.equal(analyse(w({ resources: r({ rssGrowthBytes: 180 * MB }) }), undefined, old).verdict, 'fail');
  });
});
