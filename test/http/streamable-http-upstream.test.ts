/**
 * The proxy's Streamable HTTP upstream against a small scripted backend (node:http), for what a real server
 * rarely does on cue: a GET stream that drops and must be reopened with Last-Event-ID, a 405 for no stream, a
 * 404 for a forgotten session, answers over the size limit; and what every later request must carry.
 */
import { strict as assert } from 'node:assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { StreamableHttpUpstream } from '../../src/backends/streamable-http-upstream.js';
import type { UpstreamEvents } from '../../src/backends/upstream.js';

type Seen = { method: string; headers: IncomingMessage['headers']; body: string };
type Handler = (req: Seen, res: ServerResponse) => void;

const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r).closeAllConnections())));
});

async function backend(handle: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const s = { method: req.method!, headers: req.headers, body };
      seen.push(s);
      handle(s, res);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, seen };
}

/** Events recorded, with a way to wait for the next one of a kind. */
function recorder(): { events: UpstreamEvents; log: unknown[]; next(test: (e: unknown) => boolean): Promise<unknown> } {
  const log: unknown[] = [];
  const waiters: { test: (e: unknown) => boolean; resolve: (e: unknown) => void }[] = [];
  const push = (e: unknown): void => {
    log.push(e);
    for (const w of [...waiters]) if (w.test(e)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(e);
  };
  return {
    log,
    events: {
      message: (m) => push({ message: m }),
      close: (reason, unexpected) => push({ close: reason, unexpected }),
      oversize: (bytes, id) => push({ oversize: bytes, id }),
      sessionGone: (reason, refused) => push({ gone: reason, refused }),
    },
    next: (test) => {
      const hit = log.find(test);
      if (hit !== undefined) {
        log.splice(log.indexOf(hit), 1);
        return Promise.resolve(hit);
      }
      return new Promise((resolve) => waiters.push({ test, resolve: (e) => (log.splice(log.indexOf(e), 1), resolve(e)) }));
    },
  };
}

const json = (res: ServerResponse, m: unknown, headers: Record<string, string> = {}): void => void res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(m));
const answerTo = (id: unknown) => (e: unknown): boolean => (e as { message?: { id?: unknown } }).message?.id === id;

describe('StreamableHttpUpstream', () => {
  it('sends the session id and negotiated version on later requests; reopens a dropped GET stream with Last-Event-ID; DELETEs at close', async () => {
    let gets = 0;
    const b = await backend((s, res) => {
      if (s.method === 'POST' && s.body.includes('"initialize"')) return json(res, { jsonrpc: '2.0', id: 0, result: { protocolVersion: '2025-06-18' } }, { 'mcp-session-id': 'S1' });
      if (s.method === 'POST' && s.body.includes('notifications/')) return void res.writeHead(202).end();
      if (s.method === 'POST') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        return void res.end(`id: p1\ndata:\n\nevent: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { ok: true } })}\n\n`);
      }
      if (s.method === 'GET') {
        gets++;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        // The first stream sends one message and drops; the second goes on from the id it was given.
        if (gets === 1) return void res.end(`id: g1\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { n: 1 } })}\n\n`);
        return void res.write(`id: g2\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { n: 2 } })}\n\n`);
      }
      res.writeHead(200).end(); // DELETE
    });
    const r = recorder();
    const u = await StreamableHttpUpstream.start('server "s" version 1.0.0', b.url, { authorization: 'Bearer k' }, { maxMessageBytes: 4096 }, r.events);
    u.send(INIT);
    await r.next(answerTo(0));
    u.negotiated('2025-06-18');
    u.send(INITIALIZED);
    u.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } });
    assert.deepEqual(await r.next(answerTo(1)), { message: { jsonrpc: '2.0', id: 1, result: { ok: true } } });
    const n = (i: number) => (e: unknown): boolean => (e as { message?: { params?: { n?: number } } }).message?.params?.n === i;
    await r.next(n(1));
    await r.next(n(2));
    await u.close();
    const [init, ...later] = b.seen;
    assert.equal(init!.headers['mcp-session-id'], undefined);
    assert.equal(init!.headers['mcp-protocol-version'], undefined);
    for (const s of later) {
      assert.equal(s.headers['mcp-session-id'], 'S1', s.method);
      assert.equal(s.headers['mcp-protocol-version'], '2025-06-18', s.method);
      assert.equal(s.headers.authorization, 'Bearer k', s.method);
    }
    assert.match(init!.headers.accept!, /application\/json.*text\/event-stream/);
    const getHeaders = b.seen.filter((s) => s.method === 'GET').map((s) => s.headers['last-event-id']);
    assert.deepEqual(getHeaders, [undefined, 'g1']);
    assert.equal(b.seen.at(-1)!.method, 'DELETE');
    assert.deepEqual(r.log.filter((e) => (e as { close?: string }).close !== undefined), [{ close: 'closed', unexpected: false }]);
  });

  it('a 404 to the session id reports the session gone with the refused message; 405 to GET means no stream', async () => {
    let restarted = false;
    let sawGet!: () => void;
    const streamAsked = new Promise<void>((resolve) => (sawGet = resolve));
    const b = await backend((s, res) => {
      if (s.method === 'GET') {
        sawGet();
        return void res.writeHead(405).end();
      }
      if (s.body.includes('"initialize"')) return json(res, { jsonrpc: '2.0', id: 0, result: { protocolVersion: '2025-06-18' } }, { 'mcp-session-id': 'S1' });
      if (restarted) return void res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
      res.writeHead(202).end();
    });
    const r = recorder();
    const u = await StreamableHttpUpstream.start('server "s" version 1.0.0', b.url, {}, { maxMessageBytes: 4096 }, r.events);
    u.send(INIT);
    await r.next(answerTo(0));
    u.send(INITIALIZED);
    await streamAsked;
    restarted = true;
    const call = { jsonrpc: '2.0', id: 'c', method: 'tools/call', params: { name: 'x' } };
    u.send(call);
    const gone = (await r.next((e) => (e as { gone?: string }).gone !== undefined)) as { gone: string; refused: unknown[] };
    assert.match(gone.gone, /server "s" version 1\.0\.0 no longer knows the session/);
    assert.deepEqual(gone.refused, [call]);
    assert.equal(u.alive, false);
    assert.equal(b.seen.filter((s) => s.method === 'GET').length, 1);
  });

  it('an answer over the size limit fails its request; an HTTP error answer names server, version and status', async () => {
    const b = await backend((s, res) => {
      const m = JSON.parse(s.body) as { id: unknown };
      if (m.id === 'big') return json(res, { jsonrpc: '2.0', id: 'big', result: { pad: 'x'.repeat(5000) } });
      res.writeHead(500, { 'content-type': 'text/plain' }).end('database down');
    });
    const r = recorder();
    const u = await StreamableHttpUpstream.start('server "s" version 1.0.0', b.url, {}, { maxMessageBytes: 4096 }, r.events);
    u.send({ jsonrpc: '2.0', id: 'big', method: 'tools/call', params: { name: 'x' } });
    const big = JSON.stringify({ jsonrpc: '2.0', id: 'big', result: { pad: 'x'.repeat(5000) } });
    assert.deepEqual(await r.next((e) => (e as { oversize?: number }).oversize !== undefined), { oversize: big.length, id: 'big' });
    u.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'x' } });
    const e = (await r.next(answerTo(2))) as { message: { error: { code: number; message: string } } };
    assert.equal(e.message.error.code, -32603);
    assert.equal(e.message.error.message, 'server "s" version 1.0.0 answered HTTP 500: database down');
    await u.close();
  });
});
