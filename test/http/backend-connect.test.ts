/**
 * An HTTP backend that never accepts a connection (a host that is down drops the connection attempt rather than
 * refusing it): the request fails after the connect timeout with a JSON-RPC error naming server and version,
 * long before the request timeout, and the router goes on serving.
 * The unanswering host is a process stopped with SIGSTOP whose listen queue is full: the kernel then drops new
 * connection attempts, as a host that is down does.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

/** A listener with the shortest queue, stopped once it listens; resolves with its port. */
async function stoppedListener(): Promise<{ child: ChildProcess; port: number }> {
  const script = "const s = require('net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => console.log(s.address().port));";
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  child.kill('SIGSTOP');
  return { child, port: Number(line.toString().trim()) };
}

const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'connect-test', version: '1' } } };

describe('an HTTP backend that never accepts a connection', () => {
  let r: RouterHarness;
  let down: { child: ChildProcess; port: number };
  const fillers: net.Socket[] = [];
  before(async () => {
    down = await stoppedListener();
    // Fill its listen queue: connection attempts after these get no answer at all.
    for (let i = 0; i < 4; i++) fillers.push(net.connect(down.port, '127.0.0.1').on('error', () => undefined));
    r = await startRouter(
      async (reg) => {
        await reg.deploy('down', { version: '1.2.0', transport: { type: 'http', url: `http://127.0.0.1:${down.port}/mcp`, headers: {} } });
        await reg.deploy('down-tls', { version: '1.3.0', transport: { type: 'http', url: `https://127.0.0.1:${down.port}/mcp`, headers: {} } });
      },
      { connectTimeoutMs: 300, requestTimeoutMs: 120_000 },
    );
  });
  after(async () => {
    await r.close();
    for (const f of fillers) f.destroy();
    down.child.kill('SIGKILL');
  });

  for (const [server, version, scheme] of [['down', '1.2.0', 'http'], ['down-tls', '1.3.0', 'https']] as const) {
    it(`${scheme}: fails the request after the connect timeout, naming server and version`, { timeout: 30_000 }, async () => {
      const res = await fetch(r.url(server), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify(initialize),
      });
      const answer = (await res.json()) as { id: number; error?: { message: string } };
      assert.equal(answer.id, 1);
      const expected = new RegExp(`^server "${server}" version ${version.replace(/\./g, '\\.')} is unreachable at ${scheme}://127\\.0\\.0\\.1:\\d+/mcp: did not accept a connection within 300 ms$`);
      assert.match(answer.error?.message ?? '', expected);
      const health = await fetch(`${r.base}/healthz`);
      assert.equal(health.status, 200, 'the router goes on serving');
    });
  }
});
