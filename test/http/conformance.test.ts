/**
 * Protocol fidelity: the official conformance suite gives the same result for every scenario against
 * server-everything directly and through the router. (Its named checks target its own fixture server, so
 * the comparison, not the absolute score, is what counts.) The same server over stdio, behind the router's own
 * Streamable HTTP front, fails no scenario the HTTP server passes.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { EVERYTHING, startEverything, type RunningBackend } from '../helpers/everything-http.js';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/conformance.mjs', import.meta.url));
type Results = Record<string, { passed: number; failed: number }>;
const suite = async (url: string): Promise<Results> => JSON.parse((await promisify(execFile)(process.execPath, [SCRIPT, url], { timeout: 300_000 })).stdout) as Results;

describe('conformance: direct == through the router', () => {
  let backend: RunningBackend;
  let r: RouterHarness;
  let routed: string;
  before(async () => {
    backend = await startEverything();
    r = await startRouter(async (registry) => {
      await registry.deploy('everything', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } });
      await registry.deploy('everything-stdio', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [EVERYTHING, 'stdio'], env: {} } });
    });
    routed = r.url('everything');
  });
  after(async () => {
    await r.close();
    await backend.stop();
  });

  it('every scenario scores the same, except where the router adds a protection the server lacks', async () => {
    const direct = await suite(backend.url);
    const through = await suite(routed);
    assert.deepEqual(Object.keys(through).sort(), Object.keys(direct).sort());
    assert.ok(Object.keys(direct).length >= 20, `${Object.keys(direct).length} scenarios ran`);
    for (const [scenario, d] of Object.entries(direct)) {
      const r = through[scenario]!;
      if (scenario === 'dns-rebinding-protection') {
        // The router checks Host and Origin itself: it may pass checks the server alone fails, never fewer.
        assert.ok(r.passed >= d.passed, `${scenario}: direct ${JSON.stringify(d)}, routed ${JSON.stringify(r)}`);
        continue;
      }
      assert.deepEqual(r, d, `${scenario}: direct ${JSON.stringify(d)}, routed ${JSON.stringify(r)}`);
    }
  });

  it('over stdio behind the router\'s own front: no scenario has a failure the HTTP server does not have', async () => {
    const direct = await suite(backend.url);
    const bridged = await suite(r.url('everything-stdio'));
    assert.deepEqual(Object.keys(bridged).sort(), Object.keys(direct).sort());
    for (const [scenario, d] of Object.entries(direct)) {
      const b = bridged[scenario]!;
      // A check may be graded information rather than passed (a quick answer comes as JSON, not a stream), never failed.
      assert.ok(b.failed <= d.failed, `${scenario}: direct ${JSON.stringify(d)}, through the front ${JSON.stringify(b)}`);
      if (scenario !== 'dns-rebinding-protection' && scenario !== 'server-sse-multiple-streams') assert.deepEqual(b, d, `${scenario}: direct ${JSON.stringify(d)}, through the front ${JSON.stringify(b)}`);
    }
  });
});
