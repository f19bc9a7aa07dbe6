import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseSmokeFile } from './smoke-file.js';

describe('smoke file: maxLatencyMs', () => {
  it('a call may carry its own latency limit in ms; without one it has none of its own', () => {
    const r = parseSmokeFile({ calls: [{ tool: 'slow', maxLatencyMs: 2500 }, { tool: 'fast' }] });
    assert.ok(r.ok);
    assert.deepEqual(r.value.map((c) => [c.tool, c.maxLatencyMs]), [['slow', 2500], ['fast', undefined]]);
  });
  for (const bad of [0, -5, '100ms', null, Number.POSITIVE_INFINITY]) {
    it(`refuses maxLatencyMs ${typeof bad === 'string' ? `"${bad}"` : String(bad)} with the path of the field`, () => {
      assert.deepEqual(parseSmokeFile({ calls: [{ tool: 'x' }, { tool: 'y', maxLatencyMs: bad }] }), {
        ok: false,
        errors: ['calls[1].maxLatencyMs: must be a positive number of milliseconds'],
      });
    });
  }
});
