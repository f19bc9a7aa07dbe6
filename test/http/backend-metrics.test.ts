/**
 * The router's /metrics count backend processes: one per legacy session on a stdio version, one pooled per
 * version for stateless requests; a pooled process that dies counts as a crash, and the one started in its
 * place as a restart. Backend output that is not JSON-RPC, or too large, is dropped and counted; a request
 * whose answer was too large fails at once. A pooled process that dies three times within a minute is not
 * started again until the minute has passed.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));

describe('backend process metrics', () => {
  let r: RouterHarness;
  let base: string;
  before(async () => {
    r = await startRouter((registry) => registry.deploy('raw', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW], env: {} } }).then(() => undefined), { maxBodyBytes: 64 * 1024 });
    base = r.base;
  });
  after(() => r.close());

  /** One metric's value for raw@1.0.0 in /metrics. */
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = new RegExp(`^${name}\\{server="raw",version="1\\.0\\.0"\\} (\\d+)$`, 'm').exec(text);
    assert.ok(m, `${name} is in /metrics`);
    return Number(m[1]);
  };
  const stateless = (id: number, tool: string, args: Record<string, unknown> = { text: 'hi' }) =>
    fetch(`${base}/mcp/raw`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': tool },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: args, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
    }).then((r) => r.json() as Promise<{ result?: unknown; error?: { message: string } }>);

  it('counts session and pooled processes, and a pooled crash and its restart', async () => {
    const client = new Client({ name: 'metrics-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp/raw`));
    await client.connect(transport);
    assert.equal(await metric('mcp_rollout_backend_processes'), 1, 'the session\'s process');

    assert.ok((await stateless(1, 'echo')).result);
    assert.equal(await metric('mcp_rollout_backend_processes'), 2, 'and the pooled one');

    const crashed = await stateless(2, 'crash');
    assert.match(crashed.error?.message ?? '', /server "raw" version 1\.0\.0 exited/);
    assert.equal(await metric('mcp_rollout_backend_crashes_total'), 1);
    assert.equal(await metric('mcp_rollout_backend_processes'), 1);

    assert.ok((await stateless(3, 'echo')).result, 'a new pooled process answers');
    assert.equal(await metric('mcp_rollout_backend_restarts_total'), 1);
    assert.equal(await metric('mcp_rollout_backend_processes'), 2);

    await transport.terminateSession(); // DELETE: the session ends
    await client.close();
    for (let i = 0; i < 100 && (await metric('mcp_rollout_backend_processes')) !== 1; i++) await sleep(20);
    assert.equal(await metric('mcp_rollout_backend_processes'), 1, 'the session\'s process ended with it');
    assert.equal(await metric('mcp_rollout_backend_restarts_total'), 1);
  });

  it('the router\'s own process figures are in /metrics too', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name} ([\\d.e+]+)$`, 'm').exec(text)?.[1]);
    assert.ok(value('process_resident_memory_bytes') > 10 * 1024 * 1024, 'resident memory in bytes');
    assert.ok(value('process_cpu_seconds_total') > 0);
    assert.ok(Math.abs(value('process_start_time_seconds') - (Date.now() / 1000 - process.uptime())) < 5, 'this process started then');
    assert.ok(value('nodejs_heap_used_bytes') > 0);
    assert.ok(value('process_open_fds') > 3);
  });

  it('drops and counts backend lines that are not JSON-RPC, and fails at once a request whose answer is too large', async () => {
    const before = await metric('mcp_rollout_backend_dropped_total');
    assert.ok((await stateless(10, 'noise')).result, 'the answer after the noise arrives');
    assert.equal(await metric('mcp_rollout_backend_dropped_total'), before + 1);
    const big = await stateless(11, 'big', { bytes: 100_000 });
    assert.match(big.error?.message ?? '', /server "raw" version 1\.0\.0 sent an answer of \d+ bytes, over the limit of 65536/);
    assert.equal(await metric('mcp_rollout_backend_dropped_total'), before + 2);

    const client = new Client({ name: 'metrics-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp/raw`));
    await client.connect(transport);
    await assert.rejects(client.callTool({ name: 'big', arguments: { bytes: 100_000 } }), /over the limit of 65536/);
    assert.ok((await client.callTool({ name: 'echo', arguments: { text: 'still here' } })).content, 'the session goes on');
    assert.equal(await metric('mcp_rollout_backend_dropped_total'), before + 3);
    await transport.terminateSession();
    await client.close();
  });

  it('a pooled process that keeps dying is not started again for the rest of the minute', async () => {
    let answer = await stateless(20, 'crash');
    for (let i = 21; i < 25 && !/not restarted/.test(answer.error?.message ?? ''); i++) answer = await stateless(i, 'crash');
    assert.match(answer.error?.message ?? '', /^server "raw" version 1\.0\.0 exited 3 times in the last minute; not restarted until \d\d:\d\d:\d\d UTC \(last: server "raw" version 1\.0\.0 exited with code 7/);
    const crashes = await metric('mcp_rollout_backend_crashes_total');
    const held = await stateless(30, 'echo');
    assert.match(held.error?.message ?? '', /exited 3 times in the last minute; not restarted/, 'even a harmless request is refused: no process is started');
    assert.equal(await metric('mcp_rollout_backend_crashes_total'), crashes);
  });
});
