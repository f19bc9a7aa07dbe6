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
