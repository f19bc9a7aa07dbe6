/**
 * Backpressure through the router: a client that stops reading a long answer holds the backend back (an HTTP
 * backend's writes stall; a stdio backend blocks on its full stdout pipe), rather than the router reading the
 * whole answer into its memory; once the client reads again, the answer arrives whole.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http, { type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

/** What the backend streams in answer to the `flood` tool: progress notifications of 64 KiB each, then the answer. */
const EVENTS = 1024;
const EVENT = (i: number): string =>
  `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: `${i} ${'x'.repeat(64 * 1024)}` } })}\n\n`;

/** A Streamable HTTP server whose `flood` tool streams EVENTS big notifications, writing only as fast as it is read. */
function floodServer(): Promise<{ server: Server; sent: () => number }> {
  let sent = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(200).end(); // DELETE: the session is over
      const m = JSON.parse(body) as { id?: number; method: string; params?: { name?: string } };
      if (m.id === undefined) return void res.writeHead(202).end();
      if (m.method === 'initialize') {
        const answer = { jsonrpc: '2.0', id: m.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'flood', version: '1' } } };
        return void res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'backend-1' }).end(JSON.stringify(answer));
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      void (async () => {
        for (let i = 0; i < EVENTS; i++) {
          const event = EVENT(i);
          const more = res.write(event);
          sent += Buffer.byteLength(event);
          if (!more) await once(res, 'drain');
        }
        res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'flooded' }] } })}\n\n`);
      })().catch(() => undefined);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, sent: () => sent })));
}

function post(url: string, body: unknown, session?: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', ...(session ? { 'mcp-session-id': session } : {}) },
    }, resolve);
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));

/** Waits until `sent()` stops growing for 300 ms (or reaches `total`); returns it. */
async function stalled(sent: () => Promise<number>, total: number): Promise<number> {
  let last = -1;
  for (let waited = 0; waited < 10_000; waited += 300) {
    const now = await sent();
    if (now === last || now >= total) return now;
    last = now;
    await sleep(300);
  }
  return sent();
}

const text = async (res: IncomingMessage): Promise<string> => {
  const parts: Buffer[] = [];
  for await (const c of res) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
};

describe('backpressure through the router', () => {
  let r: RouterHarness;
  let backend: { server: Server; sent: () => number };
  before(async () => {
    backend = await floodServer();
    const url = `http://127.0.0.1:${(backend.server.address() as AddressInfo).port}/mcp`;
    r = await startRouter(async (reg) => {
      await reg.deploy('flood', { version: '1.0.0', transport: { type: 'http', url, headers: {} } });
    });
  });
  after(async () => {
    await r.close();
    backend.server.closeAllConnections();
    backend.server.close();
  });

  it('a client that stops reading holds the backend back; reading again, it gets the whole answer', async () => {
    const init = await post(r.url('flood'), { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'slow', version: '1' } } });
    const session = init.headers['mcp-session-id'] as string;
    await text(init);
    const answer = await post(r.url('flood'), { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'flood' } }, session);
    answer.pause();
    let total = 0;
    for (let i = 0; i < EVENTS; i++) total += Buffer.byteLength(EVENT(i));
    const sent = await stalled(() => Promise.resolve(backend.sent()), total);
    // What is in flight is what the kernel's socket buffers and a few stream buffers hold, not the answer's 64 MiB.
    assert.ok(sent < total / 2, `the backend sent ${sent} of ${total} bytes to a client that read none`);
    answer.resume();
    const got = await text(answer);
    assert.equal(got.match(/notifications\/message/g)?.length, EVENTS, 'every notification arrived');
    assert.match(got, /"id":2,"result":\{"content":\[\{"type":"text","text":"flooded"\}\]\}/);
    assert.equal(backend.sent(), total);
  });
});

describe('backpressure through the router to a stdio backend', () => {
  let r: RouterHarness;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcp-rollout-flood-'));
    r = await startRouter(async (reg) => {
      await reg.deploy('raw', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW], env: { FLOOD_LOG: join(dir, 'sent') } } });
    });
  });
  after(async () => {
    await r.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a client that stops reading blocks the server on its stdout; reading again, it gets the whole answer', async () => {
    const init = await post(r.url('raw'), { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'slow', version: '1' } } });
    const session = init.headers['mcp-session-id'] as string;
    await text(init);
    await text(await post(r.url('raw'), { jsonrpc: '2.0', method: 'notifications/initialized' }, session));
    const answer = await post(r.url('raw'), { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'flood', arguments: { count: 1024, bytes: 64 * 1024 } } }, session);
    answer.pause();
    const total = 1024 * (64 * 1024 + 100); // about: each line is its text and a little JSON
    const sent = await stalled(async () => Number(await readFile(join(dir, 'sent'), 'utf8').catch(() => '0')), total);
    assert.ok(sent < total / 2, `the server wrote ${sent} of about ${total} bytes for a client that read none`);
    answer.resume();
    const got = await text(answer);
    assert.equal(got.match(/notifications\/message/g)?.length, 1024, 'every notification arrived');
    assert.match(got, /"id":2,"result":\{"content":\[\{"type":"text","text":"flooded 1024"\}\]\}/);
  });
});
