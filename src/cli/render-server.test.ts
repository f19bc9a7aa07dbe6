import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DEFAULT_THRESHOLDS } from '../domain/analysis.js';
import { deploy, setTraffic } from '../domain/registry-ops.js';
import { parseSteps, start } from '../domain/rollout-controller.js';
import type { VersionUsage } from '../telemetry/usage.js';
import { renderRollout } from './render-server.js';

describe('renderRollout', () => {
  it('shows desired next to observed shares of sessions and requests', () => {
    const t = { type: 'stdio' as const, command: 'x', args: [], env: {} };
    let s = deploy(undefined, 'w', { version: '1.0.0', transport: t }, 1).server;
    s = deploy(s, 'w', { version: '2.0.0', transport: t }, 2).server;
    s = setTraffic(s, '2.0.0', 25, 3).server;
    const spec = { server: 'w', version: '2.0.0', strategy: 'canary' as const, steps: parseSteps('25,100'), intervalMs: 1000, failureLimit: 1, thresholds: DEFAULT_THRESHOLDS };
    const tr = start(spec, 4);
    s = { ...s, rollout: { spec, status: tr.status, events: tr.events } };
    const usage = new Map<string, VersionUsage>([
      ['w\u00001.0.0', { sessions: 9, requests: 600, errors: 0 }],
      ['w\u00002.0.0', { sessions: 1, requests: 200, errors: 0 }],
    ]);
    const lines = renderRollout(s, { color: false }, usage);
    assert.deepEqual(lines.slice(1), [
      '    desired 25% of new sessions to 2.0.0; registry now 25%',
      '    observed: 10% of open sessions, 25% of requests so far on 2.0.0',
    ]);
    assert.equal(renderRollout(s, { color: false }).length, 2, 'no observed line without telemetry');
  });
});
