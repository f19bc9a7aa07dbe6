/**
 * The GET stream of a moved session's new backend session, held until the client's GET takes it over
 * (sessions/held-stream.ts): over real sockets, with a backend and a client front of plain node:http servers.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { DEFAULT_HOLD, HeldStream } from '../../src/sessions/held-stream.js';

const event = (n: number): string => `id: ${n}\nevent: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: `event ${n}` } })}\n\n`;

interface Backend {
  url: string;
  /** The GET requests it received, each with its headers and its response to write events to. */
  gets: { headers: http.IncomingHttpHeaders; res: http.ServerResponse; closed: Promise<void> }[];
  arrived: () => Promise<void>;
  close: () => Promise<void>;
}

/** A backend answering GET with an SSE stream (or with `status` and no stream), written to by the test. */
async function backend(status = 200): Promise<Backend> {
  const gets: Backend['gets'] = [];
  let arrive: () => void = () => undefined;
  const server = http.createServer((req, res) => {
    if (status !== 200) return void res.writeHead(status, { allow: 'POST' }).end();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    gets.push({ headers: req.headers, res, closed: once(res, 'close').then(() => undefined) });
    arrive();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    gets,
    arrived: () => (gets.length > 0 ? Promise.resolve() : new Promise<void>((resolve) => (arrive = resolve))),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A front whose GET takes `held` over; resolves with its URL and what attach said. */
async function front(held: () => HeldStream): Promise<{ url: string; attached: boolean[]; close: () => Promise<void> }> {
  const attached: boolean[] = [];
  const server = http.createServer((_req, res) => {
    const ok = held().attach(res);
    attached.push(ok);
    if (!ok) res.writeHead(409).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    attached,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Reads `body` until `text` has come; resolves with all read. */
async function readUntil(body: ReadableStream<Uint8Array>, text: string): Promise<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let got = '';
  while (!got.includes(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    got += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  return got;
}

describe('a held backend GET stream', () => {
  const closing: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of closing.splice(0).reverse()) await c();
  });

  it("keeps what the backend sends until the client's GET, which gets the move's notices first, then that, then the live stream; the client leaving closes the backend's stream", async () => {
    const b = await backend();
    closing.push(b.close);
    let closes = 0;
    const held = new HeldStream({ url: b.url, headers: { authorization: 'Bearer v' } }, 'backend-session-1', '2025-11-25', { ...DEFAULT_HOLD, connectTimeoutMs: 5000 }, () => void closes++);
    closing.push(async () => held.close());
    await b.arrived();
    const get = b.gets[0]!;
    assert.equal(get.headers['mcp-session-id'], 'backend-session-1');
    assert.equal(get.headers['mcp-protocol-version'], '2025-11-25');
    assert.equal(get.headers.authorization, 'Bearer v', "the version's configured headers go along");
    assert.equal(get.headers.accept, 'text/event-stream');
    get.res.write(event(1));
    get.res.write(event(2));
    held.tell(['notifications/tools/list_changed']);
    const f = await front(() => held);
    closing.push(f.close);
    const stop = new AbortController();
    const answer = await fetch(f.url, { signal: stop.signal });
    assert.equal(answer.headers.get('content-type'), 'text/event-stream');
    let got = await readUntil(answer.body!, 'event 2');
    const at = ['tools/list_changed', 'event 1', 'event 2'].map((t) => got.indexOf(t));
    assert.ok(at[0]! >= 0 && at[0]! < at[1]! && at[1]! < at[2]!, `in order: ${got}`);
    get.res.write(event(3));
    got = await readUntil(answer.body!, 'event 3');
    assert.ok(got.includes('event 3'), 'the live stream follows');
    assert.equal(closes, 0);
    stop.abort();
    await get.closed; // the backend's stream is closed with the client's
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(closes, 1, 'told once');
    assert.equal(held.open, false);
  });

  it('is let go when the backend sends more than the bound before the client comes: the next GET is not given it', async () => {
    const b = await backend();
    closing.push(b.close);
    let held!: HeldStream;
    const closed = new Promise<void>((resolve) => {
      held = new HeldStream({ url: b.url, headers: {} }, 's', undefined, { holdMs: 60_000, holdBytes: 1024, connectTimeoutMs: 5000 }, resolve);
    });
    closing.push(async () => held.close());
    await b.arrived();
    b.gets[0]!.res.write(event(1) + 'data: ' + 'x'.repeat(2048) + '\n\n');
    await closed;
    await b.gets[0]!.closed;
    const f = await front(() => held);
    closing.push(f.close);
    assert.equal((await fetch(f.url)).status, 409);
    assert.deepEqual(f.attached, [false]);
  });

  it('is let go when the client does not come for it in time', async () => {
    const b = await backend();
    closing.push(b.close);
    let held: HeldStream | undefined;
    await new Promise<void>((resolve) => {
      held = new HeldStream({ url: b.url, headers: {} }, 's', undefined, { holdMs: 50, holdBytes: 1024, connectTimeoutMs: 5000 }, resolve);
    });
    assert.equal(held!.open, false);
    if (b.gets.length > 0) await b.gets[0]!.closed; // its stream, if it got there, is closed
  });

  it('holds nothing of a backend that offers no GET stream (405)', async () => {
    const b = await backend(405);
    closing.push(b.close);
    let held: HeldStream | undefined;
    await new Promise<void>((resolve) => {
      held = new HeldStream({ url: b.url, headers: {} }, 's', undefined, { ...DEFAULT_HOLD, connectTimeoutMs: 5000 }, resolve);
    });
    assert.equal(held!.open, false);
    held!.tell(['notifications/tools/list_changed']); // nothing to keep it for
  });
});
