/**
 * The router's fast lane, spoken to over raw TCP: a session's traffic to an HTTP backend is answered by the lane
 * (its heads are told from node's by their lower-case `keep-alive`), pipelined and byte-by-byte requests
 * included; anything else hands the connection to node's server, which answers it and the rest of the
 * connection's requests as it answers every request. The backend is a scripted Streamable HTTP server.
 */
import { strict as assert } from 'node:assert';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LaneReply } from '../../src/http/fast-lane.js';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

interface Answer {
  status: number;
  head: string;
  headers: Record<string, string>;
  body: string;
}

/** A keep-alive connection to the router: writes bytes, reads whole answers (Content-Length or chunked). */
class Raw {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  closed = false;
  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
  }
  static async open(port: number): Promise<Raw> {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    return new Raw(s);
  }
  async write(...parts: string[]): Promise<void> {
    for (const p of parts) await new Promise<void>((r) => this.socket.write(p, () => r()));
  }
  /** The next whole answer. */
  async read(): Promise<Answer> {
    for (;;) {
      const a = this.take();
      if (a) return a;
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buf.toString())}`);
      await new Promise<void>((r) => (this.waiting = r));
    }
  }
  private take(): Answer | undefined {
    const text = this.buf.toString('latin1');
    const at = text.indexOf('\r\n\r\n');
    if (at === -1) return undefined;
    const head = text.slice(0, at);
    const headers: Record<string, string> = {};
    for (const line of head.split('\r\n').slice(1)) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
    const status = Number(head.split(' ')[1]);
    let rest = text.slice(at + 4);
    let body = '';
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (rest.length < n) return undefined;
      body = rest.slice(0, n);
      rest = rest.slice(n);
    } else if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const nl = rest.indexOf('\r\n');
        if (nl === -1) return undefined;
        const size = parseInt(rest.slice(0, nl), 16);
        if (rest.length < nl + 2 + size + 2) return undefined;
        body += rest.slice(nl + 2, nl + 2 + size);
        rest = rest.slice(nl + 2 + size + 2);
        if (size === 0) break;
      }
    }
    this.buf = Buffer.from(rest, 'latin1');
    return { status, head, headers, body };
  }
}

const BOTH = 'application/json, text/event-stream';
const post = (sid: string | undefined, body: unknown, extra = ''): string => {
  const text = JSON.stringify(body);
  return `POST /mcp/s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: ${BOTH}\r\n${sid ? `Mcp-Session-Id: ${sid}\r\n` : ''}${extra}Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
};
const init = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'lane', version: '1' } } };
const echo = (id: number, text: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text } } });
/** The lane writes its own heads in lower case; node's server writes `Keep-Alive`. */
const byLane = (a: Answer): boolean => a.head.includes('\r\nkeep-alive: timeout=');
/** The JSON-RPC messages of an SSE body. */
const events = (body: string): { id?: number; result?: { text?: string }; method?: string }[] =>
  body
    .split('\n\n')
    .flatMap((e) => e.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)))
    .filter((d) => d.startsWith('{'))
    .map((d) => JSON.parse(d) as { id?: number; result?: { text?: string } });

describe('the router\'s fast lane', { timeout: 20_000 }, () => {
  let backend: http.Server;
  let r: RouterHarness;
  let port: number;
  /** GET streams the backend has open. */
  const streams = new Set<http.ServerResponse>();
  before(async () => {
    // A scripted Streamable HTTP backend: a JSON initialize answer with a session id, tools/call answered on an SSE
    // stream that opens with an empty priming event, 202 for notifications, a GET stream with one notification.
    backend = http.createServer((req, res) => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}\n\n');
        streams.add(res);
        res.on('close', () => streams.delete(res));
        return;
      }
      if (req.method === 'DELETE') return void res.writeHead(200).end();
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const m = JSON.parse(Buffer.concat(parts).toString()) as { id?: number; method: string; params?: { arguments?: { text?: string } } };
        if (m.method === 'initialize') {
          res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'backend-1' });
          return void res.end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'scripted', version: '1' } } }));
        }
        if (m.id === undefined) return void res.writeHead(202).end();
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('id: 1\ndata: \n\n');
        res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { text: `echo ${m.params?.arguments?.text ?? ''}` } })}\n\n`);
      });
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(backend.address() as net.AddressInfo).port}/mcp`;
    r = await startRouter((registry) => registry.deploy('s', { version: '1.0.0', transport: { type: 'http', url, headers: {} } }).then(() => undefined));
    port = Number(new URL(r.base).port);
  });
  after(async () => {
    await r.close();
    backend.closeAllConnections();
    await new Promise((resolve) => backend.close(resolve));
  });

  /** A session started on `c`: the router's session id. */
  async function session(c: Raw): Promise<string> {
    await c.write(post(undefined, init));
    const a = await c.read();
    assert.equal(a.status, 200);
    assert.ok(byLane(a), `the lane answers an initialize on an HTTP-only server: ${a.head}`);
    return a.headers['mcp-session-id']!;
  }

  it('answers a session\'s requests on one connection, pipelined and byte by byte, in order', async () => {
    const c = await Raw.open(port);
    const sid = await session(c);
    await c.write(post(sid, { jsonrpc: '2.0', method: 'notifications/initialized' }));
    const note = await c.read();
    assert.deepEqual([note.status, byLane(note)], [202, true]);
    // Two requests in one write: two answers, in order.
    await c.write(post(sid, echo(1, 'one')) + post(sid, echo(2, 'two')));
    const [a1, a2] = [await c.read(), await c.read()];
    assert.deepEqual([a1, a2].map((a) => [a.status, byLane(a), a.headers['content-type'], events(a.body).map((m) => [m.id, m.result?.text])]), [
      [200, true, 'text/event-stream', [[1, 'echo one']]],
      [200, true, 'text/event-stream', [[2, 'echo two']]],
    ]);
    // One request a byte at a time.
    await c.write(...post(sid, echo(3, 'slow')).split(''));
    const a3 = await c.read();
    assert.deepEqual(events(a3.body).map((m) => m.result?.text), ['echo slow']);
    assert.ok(byLane(a3));
    assert.equal(r.router.metrics.totals().find((t) => t.server === 's')?.byMethod['tools/call'], 3, 'the lane\'s calls are counted');
    c.socket.destroy();
  });

  it('hands a connection to node\'s server at the first request it does not take, and node answers the rest', async () => {
    const c = await Raw.open(port);
    const sid = await session(c);
    // A chunked body is not the lane's kind.
    const body = JSON.stringify(echo(4, 'chunked'));
    await c.write(`POST /mcp/s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: ${BOTH}\r\nMcp-Session-Id: ${sid}\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    const a = await c.read();
    assert.equal(a.status, 200);
    assert.ok(!byLane(a), `node answers it: ${a.head}`);
    assert.deepEqual(events(a.body).map((m) => m.result?.text), ['echo chunked']);
    await c.write(post(sid, echo(5, 'after')));
    const b = await c.read();
    assert.ok(!byLane(b), 'the connection stays with node');
    assert.deepEqual(events(b.body).map((m) => m.result?.text), ['echo after']);
    c.socket.destroy();
  });

  it('leaves refusals to node: a foreign Origin gets 403, a repeated Content-Length 400, an unknown session 404', async () => {
    const foreign = await Raw.open(port);
    await foreign.write(post(undefined, init, 'Origin: https://evil.example\r\n'));
    assert.equal((await foreign.read()).status, 403);
    const unknown = await Raw.open(port);
    await unknown.write(post('not-a-session', echo(6, 'x')));
    const nf = await unknown.read();
    assert.deepEqual([nf.status, byLane(nf)], [404, false]);
    const twice = await Raw.open(port);
    const text = JSON.stringify(init);
    await twice.write(`POST /mcp/s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${text.length}\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
    assert.equal((await twice.read()).status, 400);
    for (const c of [foreign, unknown, twice]) c.socket.destroy();
  });

  it('carries a GET stream, and a client that closes it closes the backend\'s', async () => {
    const c = await Raw.open(port);
    const sid = await session(c);
    await c.write(`GET /mcp/s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: ${sid}\r\n\r\n`);
    let seen = '';
    c.socket.on('data', (d: Buffer) => (seen += d.toString()));
    while (!seen.includes('notifications/message')) await new Promise((res) => setTimeout(res, 10));
    assert.ok(seen.includes('\r\nkeep-alive: timeout='), `the lane carries it: ${seen}`);
    assert.equal(streams.size, 1);
    c.socket.destroy();
    while (streams.size > 0) await new Promise((res) => setTimeout(res, 10));
  });

  it('refuses to write a head with a line break in a value', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const [side] = (await Promise.all([new Promise<net.Socket>((res) => server.once('connection', res)), new Promise((res) => client.once('connect', res))])) as [net.Socket, unknown];
    const reply = new LaneReply(side, 30_000, () => undefined);
    assert.throws(() => reply.writeHead(200, { 'x-bad': 'a\nb' }), /invalid character in header "x-bad"/);
    assert.throws(() => reply.writeHead(200, { 'bad name': 'v' }), /invalid character/);
    assert.equal(reply.headersSent, false);
    client.destroy();
    side.destroy();
    server.close();
  });
});
