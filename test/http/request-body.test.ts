/**
 * Request bodies and the router's size limit (`--max-body`), over raw HTTP: a body over the limit gets 413 and
 * is drained, so the connection serves its next request; a chunked body (no Content-Length) is read to its end;
 * the legacy HTTP+SSE message endpoint has the same limit.
 */
import { strict as assert } from 'node:assert';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));
const LIMIT = 2048;

/** Sends raw requests on one connection and reads whole answers (Content-Length or chunked). */
async function connection(port: number): Promise<{ send(text: string): Promise<{ status: number; body: string }>; close(): void }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let buf = '';
  let wake: (() => void) | undefined;
  socket.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    wake?.();
  });
  const answer = (): { status: number; body: string } | undefined => {
    const at = buf.indexOf('\r\n\r\n');
    if (at === -1) return undefined;
    const status = Number(buf.split(' ')[1]);
    const length = /content-length: (\d+)/i.exec(buf.slice(0, at))?.[1];
    if (length !== undefined) {
      if (buf.length < at + 4 + Number(length)) return undefined;
      const body = buf.slice(at + 4, at + 4 + Number(length));
      buf = buf.slice(at + 4 + Number(length));
      return { status, body };
    }
    // Chunked: whole once the last chunk is in.
    const end = buf.indexOf('\r\n0\r\n\r\n', at);
    if (end === -1) return undefined;
    let rest = buf.slice(at + 4, end + 2);
    buf = buf.slice(end + 7);
    let body = '';
    while (rest.length > 0) {
      const nl = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, nl), 16);
      body += rest.slice(nl + 2, nl + 2 + size);
      rest = rest.slice(nl + 2 + size + 2);
    }
    return { status, body };
  };
  return {
    async send(text) {
      socket.write(text);
      for (;;) {
        const a = answer();
        if (a) return a;
        await new Promise<void>((r) => (wake = r));
      }
    },
    close: () => socket.destroy(),
  };
}

const post = (path: string, body: string, framing: 'length' | 'chunked' = 'length'): string =>
  framing === 'length'
    ? `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    : `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n${[...body.matchAll(/[^]{1,500}/g)].map(([c]) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`;

describe('request bodies and the size limit', { timeout: 20_000 }, () => {
  let r: RouterHarness;
  let port: number;
  before(async () => {
    r = await startRouter((registry) => registry.deploy('raw', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW], env: {} } }).then(() => undefined), { maxBodyBytes: LIMIT });
    port = Number(new URL(r.base).port);
  });
  after(() => r.close());

  it('answers a body over the limit with 413 and serves the connection\'s next request', async () => {
    const c = await connection(port);
    const big = await c.send(post('/mcp/raw', `"${'x'.repeat(LIMIT * 4)}"`));
    assert.equal(big.status, 413);
    assert.deepEqual(JSON.parse(big.body), { jsonrpc: '2.0', id: null, error: { code: -32600, message: `request body larger than ${LIMIT} bytes` } });
    // The rest of the big body was drained: the next request on the connection is read as a request.
    const next = await c.send(post('/mcp/raw', 'not json'));
    assert.equal(next.status, 400);
    assert.match((JSON.parse(next.body) as { error: { message: string } }).error.message, /^parse error/);
    c.close();
  });

  it('reads a chunked body to its end, and limits it too', async () => {
    const c = await connection(port);
    // Valid JSON only when whole (three chunks): numbers, not JSON-RPC messages.
    const small = await c.send(post('/mcp/raw', `[${'1,'.repeat(700)}1]`, 'chunked'));
    assert.equal(small.status, 400);
    assert.match((JSON.parse(small.body) as { error: { message: string } }).error.message, /^Invalid Request/, 'the whole body was read and parsed');
    const big = await c.send(post('/mcp/raw', `"${'x'.repeat(LIMIT * 2)}"`, 'chunked'));
    assert.equal(big.status, 413);
    c.close();
  });

  it('limits a legacy HTTP+SSE message the same way', async () => {
    const stream = await fetch(`${r.base}/sse/raw`, { headers: { accept: 'text/event-stream' } });
    const reader = stream.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    const endpoint = /data: (\S+)/.exec(text)![1]!;
    const c = await connection(port);
    const big = await c.send(post(endpoint, `"${'x'.repeat(LIMIT * 2)}"`));
    assert.deepEqual([big.status, big.body], [413, `request body larger than ${LIMIT} bytes\n`]);
    c.close();
    await reader.cancel();
  });
});
