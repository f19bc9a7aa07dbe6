/**
 * `--request-timeout` in the router: a request its backend never answers gets a JSON-RPC error naming the
 * server and version at the deadline, counted as a transport failure, whether the backend is a stdio process
 * (a session's own, or the pooled one for stateless requests) or an HTTP server (silent, or silent after
 * opening its SSE answer). An HTTP backend that breaks off its SSE answer fails the request at once, on that
 * stream; one that breaks it right after the answer does not fail it; one that ends it cleanly before the answer
 * ends the client's stream too, the request counted as a transport failure. The session goes on. A client that leaves first ends the exchange: nothing is counted.
 */
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));

/** A Streamable HTTP server that answers initialize and `echo`, and never answers `hang` / `hang-sse`. */
function silentServer(): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(405).end();
      const m = JSON.parse(body) as { id?: number; method: string; params?: { name?: string } };
      if (m.id === undefined) return void res.writeHead(202).end();
      const answer = (result: unknown) => res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'backend-1' }).end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
      if (m.method === 'initialize') return answer({ protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'silent', version: '1' } });
      if (m.params?.name === 'echo') return answer({ content: [{ type: 'text', text: 'echo' }] });
      if (m.params?.name === 'hang-sse') res.writeHead(200, { 'content-type': 'text/event-stream' }).flushHeaders();
      if (m.params?.name === 'break-sse') {
        // Opens its SSE answer with a log notification, then its connection drops.
        res.writeHead(200, { 'content-type': 'text/event-stream' }).write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'working' } })}\n\n`);
        setTimeout(() => res.destroy(), 50);
      }
      if (m.params?.name === 'break-after-answer') {
        // Answers on an SSE stream, and in the same write breaks the stream's framing.
        const event = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'answered' }] } })}\n\n`;
        res.socket!.write(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n${Buffer.byteLength(event).toString(16)}\r\n${event}\r\nzz\r\n`);
      }
      if (m.params?.name === 'crlf-sse') {
        // An SSE answer with CR LF line ends, an event id, and a data field with no space after its colon (all
        // allowed by the format), carrying a tool error; the stream stays open, so only the event's blank line
        // tells the router the answer is complete.
        const answerLine = JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'failed' }], isError: true } });
        res.writeHead(200, { 'content-type': 'text/event-stream' }).write(`id: e-1\r\ndata:\r\n\r\nid: e-2\r\nevent: message\r\ndata:${answerLine}\r\n\r\n`);
      }
      // Opens its SSE answer, then ends it cleanly without the answer.
      if (m.params?.name === 'end-sse') res.writeHead(200, { 'content-type': 'text/event-stream' }).end();
      // hang, hang-sse: nothing more, ever
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('the router\'s request timeout', () => {
  let r: RouterHarness;
  let silent: Server;
  before(async () => {
    silent = await silentServer();
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/mcp`;
    r = await startRouter(
      async (reg) => {
        await reg.deploy('raw', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW], env: {} } });
        await reg.deploy('silent', { version: '2.0.0', transport: { type: 'http', url, headers: {} } });
      },
      { requestTimeoutMs: 400 },
    );
  });
  after(async () => {
    await r.close();
    silent.closeAllConnections();
    silent.close();
  });

  const failures = (server: string, version: string): number => Number(new RegExp(`^mcp_rollout_transport_failures_total\\{server="${server}",version="${version.replace(/\./g, '\\.')}"\\} (\\d+)$`, 'm').exec(r.router.metrics.prometheus())?.[1] ?? 0);

  /** Runs `test` in a session of the official client with `server`, then checks the session goes on, and closes it. */
  async function inSession(server: string, test: (client: Client) => Promise<void>): Promise<void> {
    const client = new Client({ name: 'timeout-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(r.url(server))));
    try {
      await test(client);
      assert.ok((await client.callTool({ name: 'echo', arguments: {} })).content, 'the next request is answered');
    } finally {
      await client.close();
    }
  }

  for (const [server, version, tool] of [
    ['raw', '1.0.0', 'hang'],
    ['silent', '2.0.0', 'hang'],
    ['silent', '2.0.0', 'hang-sse'],
  ] as const) {
    it(`${server} (${tool}): the request fails at the deadline, and the session goes on`, async () => {
      const before = failures(server, version);
      await inSession(server, async (client) => {
        await assert.rejects(client.callTool({ name: tool }), new RegExp(`server "${server}" version ${version.replace(/\./g, '\\.')} did not answer (tools/call )?within 400 ms`));
        assert.equal(failures(server, version), before + 1);
      });
    });
  }

  it('a backend that breaks off an SSE answer: the request gets an error naming server and version at once, on that stream', async () => {
    const before = failures('silent', '2.0.0');
    await inSession('silent', async (client) => {
      // Not the deadline's error: the break's own, as soon as it happened.
      await assert.rejects(client.callTool({ name: 'break-sse' }), /server "silent" version 2\.0\.0 broke off its answer: the backend closed the connection before its answer ended/);
      assert.equal(failures('silent', '2.0.0'), before + 1);
    });
  });

  it('a backend that breaks its stream right after the answer, in the same read: the answer stands, no error for it, nothing counted against the version', async () => {
    const before = failures('silent', '2.0.0');
    const errors: Error[] = [];
    await inSession('silent', async (client) => {
      client.onerror = (e) => void errors.push(e);
      assert.deepEqual((await client.callTool({ name: 'break-after-answer' })).content, [{ type: 'text', text: 'answered' }]);
    });
    assert.equal(failures('silent', '2.0.0'), before);
    assert.deepEqual(errors, []);
  });

  it('an SSE answer with CR LF line ends and a data field without its space is read as such: the answer is booked (a tool error), not a transport failure', async () => {
    const count = (name: string): number => Number(new RegExp(`^${name}\\{server="silent",version="2\\.0\\.0"\\} (\\d+)$`, 'm').exec(r.router.metrics.prometheus())?.[1] ?? 0);
    const [failed, toolErrors] = [failures('silent', '2.0.0'), count('mcp_rollout_tool_errors_total')];
    await inSession('silent', async (client) => {
      const answer = await client.callTool({ name: 'crlf-sse' });
      assert.equal(answer.isError, true);
      assert.deepEqual(answer.content, [{ type: 'text', text: 'failed' }]);
    });
    assert.equal(count('mcp_rollout_tool_errors_total'), toolErrors + 1, 'the answer was read and booked');
    assert.equal(failures('silent', '2.0.0'), failed);
  });

  it('a backend that ends its SSE answer cleanly before the answer: the client\'s stream ends with no answer, and the request counts as a transport failure', async () => {
    const before = failures('silent', '2.0.0');
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const post = (body: unknown, session?: string) => fetch(r.url('silent'), { method: 'POST', headers: { ...headers, ...(session === undefined ? {} : { 'mcp-session-id': session }) }, body: JSON.stringify(body) });
    const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'end-sse', version: '1' } } });
    const session = init.headers.get('mcp-session-id') ?? undefined;
    await init.text();
    assert.ok(session !== undefined, 'the router gave the session an id');
    const answer = await post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'end-sse' } }, session);
    assert.equal(answer.headers.get('content-type'), 'text/event-stream');
    assert.doesNotMatch(await answer.text(), /"id":7/);
    assert.equal(failures('silent', '2.0.0'), before + 1);
    await fetch(r.url('silent'), { method: 'DELETE', headers: { 'mcp-session-id': session } }).then((x) => x.text());
  });

  it('a client that leaves before the deadline ends the exchange: no timeout follows, nothing is counted against the version', async () => {
    const client = new Client({ name: 'leaving', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(r.url('silent')));
    await client.connect(transport);
    const before = failures('silent', '2.0.0');
    const gone = new AbortController();
    const call = fetch(r.url('silent'), {
      method: 'POST',
      signal: gone.signal,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId! },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'hang' } }),
    });
    await sleep(150);
    gone.abort();
    await call.catch(() => undefined);
    await sleep(700); // past the 400 ms deadline
    assert.equal(failures('silent', '2.0.0'), before);
    assert.ok((await client.callTool({ name: 'echo', arguments: {} })).content, 'the session goes on');
    await client.close();
  });

  it('a stateless request to a stdio version fails at the deadline too', async () => {
    const answer = (await (
      await fetch(r.url('raw'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'hang' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'hang', _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
      })
    ).json()) as { id: number; error?: { message: string } };
    assert.equal(answer.id, 3);
    assert.match(answer.error?.message ?? '', /server "raw" version 1\.0\.0 did not answer tools\/call within 400 ms/);
  });
});
