/**
 * The router's HTTP/1.1 backend client against a scripted TCP server that writes exact bytes: every body framing
 * (Content-Length, chunked with extensions and trailers, until close), answers split at every byte, interim
 * answers, connection reuse and when a connection must not be reused, and every way a backend can fail.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { backendTarget, closeIdleBackendConnections, send, type BackendCall, type BackendHead } from '../../src/backends/backend-client.js';
import { freePort } from '../helpers/everything-http.js';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

/** A throwaway self-signed certificate for 127.0.0.1, for loopback tests only. */
const TLS = new URL('../../../test/fixtures/tls/', import.meta.url);

/** What a server script does with one request (its raw bytes) on a connection (numbered from 1). */
type Script = (request: string, socket: Socket, connection: number) => void | Promise<void>;

interface Scripted {
  url: string;
  connections: number;
  requests: string[];
  script: Script;
  close(): Promise<void>;
}

/** A TCP server that reads each request whole (head plus Content-Length body) and runs `script` on it. */
async function scripted(): Promise<Scripted> {
  const s: Scripted = { url: '', connections: 0, requests: [], script: () => undefined, close: () => Promise.resolve() };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    const n = ++s.connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const request = buf.slice(0, end + 4 + length);
        buf = buf.slice(end + 4 + length);
        s.requests.push(request);
        void s.script(request, socket, n);
      }
    });
  });
  const port = await freePort();
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  s.url = `http://127.0.0.1:${port}/mcp?x=1`;
  s.close = async () => {
    for (const k of sockets) k.destroy();
    await new Promise((r) => server.close(r));
  };
  return s;
}

interface Outcome {
  head?: BackendHead;
  body: string;
  error?: string;
  events: string[];
}

/** Sends a request and collects what the handlers saw, in order. */
function call(url: string, method = 'POST', headers: Record<string, string> = {}, body: Buffer | undefined = Buffer.from('{"x":1}')): Promise<Outcome> {
  return new Promise((resolve) => {
    const o: Outcome = { body: '', events: [] };
    send(backendTarget(url), method, headers, body, {
      head: (h) => void ((o.head = h), o.events.push('head')),
      data: (c) => void ((o.body += c.toString()), o.events.push('data')),
      end: () => void (o.events.push('end'), resolve(o)),
      error: (e) => void ((o.error = e.message), o.events.push('error'), resolve(o)),
    });
  });
}

/** Writes `text` one byte at a time, each in its own packet as far as the server can make it. */
async function trickle(socket: Socket, text: string): Promise<void> {
  for (const ch of text) {
    socket.write(ch);
    await sleep(1);
  }
}

describe('backend HTTP/1.1 client', () => {
  let s: Scripted;
  before(async () => {
    s = await scripted();
  });
  after(async () => {
    closeIdleBackendConnections();
    await s.close();
  });

  it('sends the request line, Host, the headers, Content-Length and the body in one go', async () => {
    s.script = (_r, k) => void k.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConstructor: c\r\n\r\nok');
    const o = await call(s.url, 'POST', { accept: 'application/json, text/event-stream', 'mcp-session-id': 'abc' });
    assert.equal(o.head?.headers.constructor, 'c', 'header names are only data');
    const port = new URL(s.url).port;
    assert.equal(s.requests.at(-1), `POST /mcp?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\naccept: application/json, text/event-stream\r\nmcp-session-id: abc\r\nContent-Length: 7\r\n\r\n{"x":1}`);
    assert.deepEqual(o.events, ['head', 'data', 'end']);
    assert.equal(o.head?.status, 200);
    assert.equal(o.body, 'ok');
  });

  it('reuses a connection for answers framed by length or chunks, and gives each answer whole even byte by byte', async () => {
    closeIdleBackendConnections();
    const before = s.connections;
    s.script = (_r, k) => trickle(k, 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer-Field: t\r\n\r\n');
    const chunked = await call(s.url);
    assert.equal(chunked.body, 'hello, world');
    assert.equal(chunked.head?.headers['content-type'], 'text/event-stream');
    assert.equal(chunked.head?.headers['x-a'], '1, 2', 'repeated headers are joined');
    assert.equal(chunked.events.at(-1), 'end');
    s.script = (_r, k) => trickle(k, 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde');
    assert.equal((await call(s.url)).body, 'abcde');
    s.script = (_r, k) => void k.write('HTTP/1.1 204 No Content\r\n\r\n');
    const empty = await call(s.url, 'DELETE', {}, undefined);
    assert.deepEqual(empty.events, ['head', 'end']);
    assert.equal(s.connections - before, 1, 'one connection carried all three');
  });

  it('says when the pieces of one read have all been passed on (flush), and not after the answer ended', async () => {
    s.script = async (_r, k) => {
      k.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n');
      await sleep(30);
      k.write('1\r\nc\r\n0\r\n\r\n');
    };
    const events = await new Promise<string[]>((resolve) => {
      const seen: string[] = [];
      send(backendTarget(s.url), 'POST', {}, Buffer.from('{}'), {
        head: () => void seen.push('head'),
        data: (c) => void seen.push(c.toString()),
        flush: () => void seen.push('flush'),
        end: () => resolve(seen),
        error: (e) => resolve([...seen, e.message]),
      });
    });
    assert.deepEqual(events, ['head', 'a', 'b', 'flush', 'c']);
  });

  it('skips interim answers', async () => {
    s.script = (_r, k) => void k.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n');
    const o = await call(s.url);
    assert.equal(o.head?.status, 202);
    assert.deepEqual(o.events, ['head', 'end']);
  });

  it('reads an answer without length to the end of its connection, and does not reuse that connection', async () => {
    s.script = (_r, k) => void k.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"until":"close"}');
    assert.equal((await call(s.url)).body, '{"until":"close"}');
    const before = s.connections;
    s.script = (_r, k) => void k.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    assert.equal((await call(s.url)).body, 'ok');
    assert.equal(s.connections, before + 1);
  });

  it('does not reuse a connection the backend asked to close, or keeps for less than a second', async () => {
    for (const header of ['Connection: close', 'Keep-Alive: timeout=1']) {
      s.script = (_r, k) => void k.write(`HTTP/1.1 200 OK\r\n${header}\r\nContent-Length: 2\r\n\r\nok`);
      await call(s.url);
      const before = s.connections;
      await call(s.url);
      assert.equal(s.connections, before + 1, header);
    }
  });

  it('opens a new connection when the backend closed an idle one', async () => {
    s.script = (_r, k, n) => void k.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n' + String(n % 10));
    await call(s.url);
    s.script = (_r, k) => void k.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); // answers, then closes while idle
    await call(s.url);
    await sleep(50);
    const before = s.connections;
    s.script = (_r, k) => void k.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const o = await call(s.url);
    assert.equal(o.body, 'ok');
    assert.equal(s.connections, before + 1);
  });

  it('fails, naming why, when the backend closes early, speaks something else, or sends too much head', async () => {
    const cases: [Script, RegExp][] = [
      [(_r, k) => void k.end(), /closed the connection without answering/],
      [(_r, k) => void k.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'), /closed the connection before its answer ended/],
      [(_r, k) => void k.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'), /before its answer ended/],
      [(_r, k) => void k.write('SSH-2.0-OpenSSH\r\n\r\n'), /did not answer in HTTP\/1\.x \("SSH-2\.0-OpenSSH"\)/],
      [(_r, k) => void k.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'), /malformed chunk size/],
      [(_r, k) => void k.write('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'), /invalid Content-Length \(-1\)/],
      [(_r, k) => void k.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY'), /malformed chunk$/],
      [(_r, k) => void k.write('HTTP/1.1 200 OK\r\nno colon here\r\n\r\n'), /malformed header line \("no colon here"\)/],
      [(_r, k) => void k.write('HTTP/1.1 200 OK\r\nX-A: 1\r\n Set-Cookie: smuggled\r\nContent-Length: 2\r\n\r\nok'), /folded header line \(obs-fold\): " Set-Cookie: smuggled"/],
      [(_r, k) => void k.write('HTTP/1.1 200 OK\r\nX-A: 1\r\n\tmore\r\nContent-Length: 2\r\n\r\nok'), /folded header line \(obs-fold\)/],
      [(_r, k) => void k.write('HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok'), /malformed header line \("Content-Length : 2"\)/],
      [(_r, k) => void k.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'), /switched protocols/],
      [(_r, k) => void k.write(`HTTP/1.1 200 OK\r\nX: ${'y'.repeat(70 * 1024)}`), /response head is over 65536 bytes/],
    ];
    for (const [script, why] of cases) {
      s.script = script;
      const o = await call(s.url);
      assert.match(o.error ?? '', why);
      assert.equal(o.events.filter((e) => e === 'error').length, 1, 'one error, nothing after it');
      assert.ok(!o.events.includes('end'));
    }
  });

  it('reads an answer with both Transfer-Encoding: chunked and Content-Length as chunked, without the length, and does not reuse its connection', async () => {
    s.script = (_r, k) => void k.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    const o = await call(s.url);
    assert.equal(o.body, 'hello');
    assert.deepEqual(o.events, ['head', 'data', 'end']);
    assert.equal(o.head?.headers['content-length'], undefined, 'the length is not passed on');
    assert.equal(o.head?.headers['transfer-encoding'], 'chunked');
    const before = s.connections;
    s.script = (_r, k) => void k.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    assert.equal((await call(s.url)).body, 'ok');
    assert.equal(s.connections, before + 1, 'a new connection');
  });

  it('merges header names case-insensitively (the last given wins) and never sends a Host, length, framing or hop-by-hop header it was given', async () => {
    s.script = (_r, k) => void k.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    await call(s.url, 'POST', {
      authorization: 'Bearer client',
      accept: 'application/json',
      Authorization: 'Bearer configured',
      HOST: 'evil.example',
      'content-LENGTH': '99',
      'Transfer-Encoding': 'chunked',
      Connection: 'close',
      'keep-alive': 'timeout=1',
      TE: 'trailers',
      Upgrade: 'h2c',
      'Proxy-Authorization': 'x',
    });
    const port = new URL(s.url).port;
    assert.equal(s.requests.at(-1), `POST /mcp?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\naccept: application/json\r\nAuthorization: Bearer configured\r\nContent-Length: 7\r\n\r\n{"x":1}`);
    const u = new URL(s.url);
    await call(`http://user:pw@${u.host}/mcp`, 'POST', { AUTHORIZATION: 'Bearer own' });
    assert.equal(s.requests.at(-1)!.match(/^authorization:/gim)?.length, 1, 'no Basic authorization beside the request\'s own, whatever its case');
  });

  it('fails with the connection error when nobody listens', async () => {
    const o = await call(`http://127.0.0.1:${await freePort()}/mcp`);
    assert.match(o.error ?? '', /ECONNREFUSED/);
  });

  it('refuses a header with a line break before sending anything', async () => {
    const n = s.requests.length;
    assert.throws(() => send(backendTarget(s.url), 'POST', { 'x-evil': 'a\r\nInjected: 1' }, undefined, { head() {}, data() {}, end() {}, error() {} }), /invalid character in header "x-evil"/);
    await sleep(20);
    assert.equal(s.requests.length, n);
  });

  it('sends Basic authorization from the URL', async () => {
    s.script = (_r, k) => void k.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    const u = new URL(s.url);
    await call(`http://us%40er:p%3Ass@${u.host}/mcp`);
    assert.match(s.requests.at(-1)!, new RegExp(`\\r\\nAuthorization: Basic ${Buffer.from('us@er:p:ss').toString('base64')}\\r\\n`));
  });

  it('speaks to an https backend through node:https behind the same interface, and refuses a certificate it cannot verify', async () => {
    const server = createHttpsServer({ key: readFileSync(new URL('key.pem', TLS)), cert: readFileSync(new URL('cert.pem', TLS)) }, (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'set-cookie': ['a=1', 'b=2'] });
        res.write('event: message\ndata: {"ok":1}\n\n');
        res.end();
      });
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      const refused = await call(`https://127.0.0.1:${port}/mcp`);
      assert.match(refused.error ?? '', /self-signed certificate/);
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; // this test's certificate only: the default CAs cannot know it
      const o = await call(`https://127.0.0.1:${port}/mcp`);
      assert.deepEqual(o.events, ['head', 'data', 'end']);
      assert.equal(o.body, 'event: message\ndata: {"ok":1}\n\n');
      assert.equal(o.head?.headers['set-cookie'], 'a=1, b=2');
    } finally {
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      server.closeAllConnections();
      server.close();
    }
  });

  it('pause holds the backend back until resume, over http and https', async () => {
    const PIECE = Buffer.alloc(64 * 1024, 'x');
    const TOTAL = 1024 * PIECE.length; // 64 MiB
    let sent = 0;
    const answer = (_req: IncomingMessage, res: ServerResponse): void => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      void (async () => {
        while (sent < TOTAL) {
          sent += PIECE.length;
          if (!res.write(PIECE)) await once(res, 'drain');
        }
        res.end();
      })().catch(() => undefined);
    };
    const tls = { key: readFileSync(new URL('key.pem', TLS)), cert: readFileSync(new URL('cert.pem', TLS)) };
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; // this test's certificate only
    try {
      for (const [scheme, server] of [['http', createHttpServer(answer)], ['https', createHttpsServer(tls, answer)]] as const) {
        const port = await freePort();
        await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
        try {
          sent = 0;
          let got = 0;
          let call: BackendCall | undefined;
          const ended = new Promise<string>((resolve) => {
            call = send(backendTarget(`${scheme}://127.0.0.1:${port}/mcp`), 'POST', {}, Buffer.from('{}'), {
              head: () => call!.pause(),
              data: (c) => void (got += c.length),
              end: () => resolve('end'),
              error: (e) => resolve(e.message),
            });
          });
          // Paused from its head on: the backend's writes stall once the socket buffers between are full.
          let last = -1;
          for (let waited = 0; waited < 10_000 && sent !== last && sent < TOTAL; waited += 300) {
            last = sent;
            await sleep(300);
          }
          assert.ok(sent < TOTAL / 2, `${scheme}: the backend sent ${sent} of ${TOTAL} bytes to a paused reader`);
          call!.resume();
          assert.equal(await ended, 'end', scheme);
          assert.equal(got, TOTAL, `${scheme}: every byte arrived`);
        } finally {
          server.closeAllConnections();
          server.close();
        }
      }
    } finally {
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    }
  });

  it('after abort: no handler is called and the backend sees its connection close', async () => {
    let closed = false;
    s.script = async (_r, k) => {
      k.once('close', () => (closed = true));
      k.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
      await sleep(100);
      if (!k.destroyed) k.write('3\r\ndef\r\n0\r\n\r\n');
    };
    const events: string[] = [];
    const c = send(backendTarget(s.url), 'POST', {}, Buffer.from('{}'), {
      head: () => void events.push('head'),
      data: () => {
        events.push('data');
        c.abort();
      },
      end: () => void events.push('end'),
      error: () => void events.push('error'),
    });
    await sleep(200);
    assert.deepEqual(events, ['head', 'data']);
    assert.equal(c.complete, false);
    assert.ok(closed, 'the connection was closed');
  });
});

describe('the router over the backend client, to a scripted backend', () => {
  let s: Scripted;
  let r: RouterHarness;
  before(async () => {
    s = await scripted();
    r = await startRouter(async (reg) => {
      await reg.deploy('raw', { version: '1.0.0', transport: { type: 'http', url: s.url, headers: { Authorization: 'Bearer configured' } } });
    });
  });
  after(async () => {
    await r.close();
    await s.close();
  });

  const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
  const toolCall = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'météo', arguments: {}, _meta: meta } };
  const answer = '{"jsonrpc":"2.0","id":1,"result":{"content":[]}}';
  const post = (headers: Record<string, string> = {}, body: unknown = toolCall): Promise<Response> =>
    fetch(r.url('raw'), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(body) });
  /** The request the backend got last, its header lines as [lower-case name, value]. */
  const lastHeaders = (): [string, string][] =>
    s.requests.at(-1)!.split('\r\n\r\n')[0]!.split('\r\n').slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);

  it('a 2026-07-28 request without its headers reaches the backend with MCP-Protocol-Version, Mcp-Method and Mcp-Name from the body', async () => {
    s.script = (_r, k) => void k.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`);
    const res = await post();
    assert.equal(await res.text(), answer);
    const h = lastHeaders();
    assert.deepEqual(h.filter(([k]) => k.startsWith('mcp-')), [
      ['mcp-protocol-version', '2026-07-28'],
      ['mcp-method', 'tools/call'],
      ['mcp-name', `=?base64?${Buffer.from('météo').toString('base64')}?=`],
    ]);
    // The client's own are forwarded as it sent them (a disagreement is the backend's to judge), once each.
    await (await post({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'other' })).text();
    assert.deepEqual(lastHeaders().filter(([k]) => k === 'mcp-name'), [['mcp-name', 'other']]);
  });

  it('a configured Authorization replaces the client\'s authorization: the backend gets one', async () => {
    s.script = (_r, k) => void k.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`);
    await (await post({ authorization: 'Bearer client' })).text();
    assert.deepEqual(lastHeaders().filter(([k]) => k === 'authorization'), [['authorization', 'Bearer configured']]);
  });

  it('an answer framed by chunks and a Content-Length reaches the client whole, without the length', async () => {
    const chunk = `${answer.length.toString(16)}\r\n${answer}\r\n0\r\n\r\n`;
    s.script = (_r, k) => void k.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`);
    const res = await post();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), null);
    assert.equal(await res.text(), answer);
  });

  it('a folded header line in the answer fails the request with a JSON-RPC error naming server and version', async () => {
    s.script = (_r, k) => void k.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: 1\r\n Content-Length: 1\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`);
    const res = await post();
    const m = (await res.json()) as { id: number; error?: { code: number; message: string } };
    assert.equal(m.id, 1);
    assert.equal(m.error?.code, -32603);
    assert.match(m.error?.message ?? '', /^server "raw" version 1\.0\.0 sent a malformed answer: the backend sent a folded header line \(obs-fold\)/);
    const note = await fetch(r.url('raw'), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/x', params: { _meta: meta } }) });
    assert.equal(note.status, 502, 'with no request to answer, the HTTP status says it');
    assert.match(await note.text(), /server \\"raw\\" version 1\.0\.0 sent a malformed answer/);
  });
});
