/**
 * The router's pool of stdio processes for stateless requests, driven directly: a version stopped while a new
 * request starts it again keeps exactly one tracked process (the old one's exit does not forget the new one).
 */
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StdioPool } from '../../src/backends/stdio-pool.js';
import { VersionMetrics } from '../../src/telemetry/version-metrics.js';
import { pidAlive } from '../helpers/processes.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));
const record = { version: '1.0.0', type: 'stdio' as const, command: process.execPath, args: [RAW], env: {}, status: 'blue' as const, traffic: 100, deployedAt: 0 };

describe('stdio pool', () => {
  const pool = new StdioPool(new VersionMetrics(), { maxMessageBytes: 1 << 20 });
  after(() => pool.close());

  const pid = async (id: number): Promise<number> => {
    const m = await pool.request('raw', record as never, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'pids' } });
    return (JSON.parse(((m.result as { content: { text: string }[] }).content[0]!).text) as { pid: number }).pid;
  };

  it('a version stopped and started again at once keeps its new process tracked', async () => {
    const first = await pid(1);
    const stopping = pool.stop('raw\u00001.0.0');
    const second = await pid(2); // starts a new process while the first is still ending
    await stopping;
    assert.notEqual(second, first);
    assert.deepEqual(pool.running(), ['raw\u00001.0.0'], 'the new process is still the version\'s');
    assert.equal(await pid(3), second, 'and it serves the next request (no third process)');
    assert.equal(pidAlive(first), false);
  });
});
