import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { MCP_REQUEST_METHODS } from '../protocol/mcp-methods.js';
import { OTHER_METHOD, VersionMetrics } from './version-metrics.js';

/** The `mcp_rollout_requests_total` lines of an exposition. */
const requestLines = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('mcp_rollout_requests_total{'));

describe('VersionMetrics method labels', () => {
  const cases: [string, string][] = [
    ['tools/call', 'tools/call'],
    ['initialize', 'initialize'],
    ['server/discover', 'server/discover'],
    ['subscriptions/listen', 'subscriptions/listen'],
    ['Tools/Call', OTHER_METHOD], // JSON-RPC methods are case-sensitive
    ['made/up', OTHER_METHOD],
    ['', OTHER_METHOD],
    ['other', OTHER_METHOD],
  ];
  for (const [method, label] of cases) {
    it(`"${method}" is counted as "${label}"`, () => {
      const m = new VersionMetrics();
      m.request('w', '1.0.0', method, 1, {});
      assert.deepEqual(m.totals()[0]!.byMethod, { [label]: 1 });
    });
  }

  it('every MCP method keeps its own series; any number of made-up ones share one', () => {
    const m = new VersionMetrics();
    for (const method of MCP_REQUEST_METHODS) m.request('w', '1.0.0', method, 1, {});
    for (let i = 0; i < 1000; i++) m.request('w', '1.0.0', `made/up-${i}`, 1, {});
    const lines = requestLines(m.prometheus());
    assert.equal(lines.length, MCP_REQUEST_METHODS.size + 1);
    assert.ok(lines.includes(`mcp_rollout_requests_total{server="w",version="1.0.0",method="other"} 1000`));
  });
});

describe('VersionMetrics label escaping (Prometheus text format)', () => {
  const cases: [string, string][] = [
    ['plain', 'plain'],
    ['a"b', 'a\\"b'],
    ['a\\b', 'a\\\\b'],
    ['a\nb', 'a\\nb'],
    ['\\"\n', '\\\\\\"\\n'],
  ];
  for (const [raw, escaped] of cases) {
    it(`${JSON.stringify(raw)} is written as ${escaped}`, () => {
      const m = new VersionMetrics();
      m.request(raw, raw, 'tools/call', 1, {});
      const text = m.prometheus();
      assert.ok(requestLines(text).includes(`mcp_rollout_requests_total{server="${escaped}",version="${escaped}",method="tools/call"} 1`), text);
      // An exposition line never breaks inside a label value.
      for (const line of text.split('\n').filter((l) => l.startsWith('mcp_rollout_'))) assert.match(line, /^[a-z_]+\{.*\} [\d.e+-]+$/);
    });
  }
});

describe('VersionMetrics resource windows of managed versions', () => {
  const MB = 1024 * 1024;
  /** A metrics object whose managed source reads `fig` (mutated between snapshots). */
  const setup = () => {
    const fig = new Map<string, { state: string; pid?: number; rssBytes?: number; cpuSeconds?: number; restarts: number }>();
    const m = new VersionMetrics();
    m.resourceSampling = true;
    m.managedSource = () => fig;
    const set = (pid: number, rssMb: number, cpu: number) => fig.set('w\u00002.0.0', { state: 'ready', pid, rssBytes: rssMb * MB, cpuSeconds: cpu, restarts: 0 });
    return { m, fig, set };
  };

  it('memory growth, CPU and requests between the snapshots of the window', () => {
    const { m, set } = setup();
    set(10, 40, 1);
    m.snapshot(1000);
    for (let i = 0; i < 30; i++) m.request('w', '2.0.0', 'tools/call', 1, {});
    set(10, 100, 1.3);
    m.snapshot(11_000);
    assert.deepEqual(m.window('w', '2.0.0', 1000).resources, { samples: 2, spanMs: 10_000, rssGrowthBytes: 60 * MB, rssGrowthSpanMs: 10_000, cpuSeconds: 0.3, requests: 30 });
  });

  it('memory is measured over the later half: warm-up growth that levels off is not a leak, steady growth is', () => {
    const warm = setup();
    [40, 80, 88, 89, 90].forEach((mb, i) => (warm.set(10, mb, i), warm.m.snapshot(1000 + i * 2000)));
    const w1 = warm.m.window('w', '2.0.0', 0).resources!;
    assert.deepEqual([w1.spanMs, w1.rssGrowthBytes / MB, w1.rssGrowthSpanMs], [8000, 2, 4000]);
    const leak = setup();
    [40, 60, 80, 100, 120].forEach((mb, i) => (leak.set(10, mb, i), leak.m.snapshot(1000 + i * 2000)));
    assert.equal(leak.m.window('w', '2.0.0', 0).resources!.rssGrowthBytes / MB, 40);
  });

  it('only the latest process counts: growth across a restart would compare two processes', () => {
    const { m, set } = setup();
    set(10, 400, 9);
    m.snapshot(1000);
    set(11, 40, 0.2);
    m.snapshot(2000);
    set(11, 45, 0.4);
    m.snapshot(3000);
    const r = m.window('w', '2.0.0', 0).resources!;
    assert.equal(r.samples, 2);
    assert.equal(r.rssGrowthBytes, 5 * MB);
  });

  it('a managed version with no sample yet has an empty resource window (inconclusive); others have none', () => {
    const { m, fig } = setup();
    fig.set('w\u00002.0.0', { state: 'starting', restarts: 0 });
    m.snapshot(1000);
    assert.equal(m.window('w', '2.0.0', 0).resources?.samples, 0);
    assert.equal(m.window('w', '1.0.0', 0).resources, undefined);
  });
});
