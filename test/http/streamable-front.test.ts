/**
 * The router's own Streamable HTTP front for bridged sessions (a stdio version here), spoken to with raw HTTP:
 * what it refuses and how, quick answers as JSON, POST streams that end once every request in them is answered,
 * the one GET stream and what reaches it, and DELETE.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));
const BOTH = 'application/json, text/event-stream';

type Msg = { id?: unknown; method?: string; result?: { content?: { text: string }[] } };

/** The JSON-RPC messages of an SSE body. */
const events = (text: string): Msg[] =>
  text
    .split('\n\n')
    .map((e) => e.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n'))
    .filter((d) => d !== '')
    .map((d) => JSON.parse(d) as Msg);

/** How an answer came (a JSON body or an SSE stream), and its messages. */
async function answer(res: Response): Promise<[string, Msg[]]> {
  const type = res.headers.get('content-type') ?? '';
  if (type === 'application/json') return ['json', [(await res.json()) as Msg]];
  assert.equal(type, 'text/event-stream');
  return ['sse', events(await res.text())];
}

describe('Streamable HTTP front of bridged sessions', { timeout: 20_000 }, () => {
  let r: RouterHarness;
  let url: string;
  before(async () => {
    r = await startRouter((registry) => registry.deploy('raw', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW], env: {} } }).then(() => undefined));
    url = r.url('raw');
  });
  after(() => r.close());

  const post = (sid: string | undefined, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: BOTH, 'mcp-protocol-version': '2025-06-18', ...(sid ? { 'mcp-session-id': sid } : {}), ...headers }, body: JSON.stringify(body) });
  const call = (id: number | string, name: string, args: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

  /** A new session: its id. */
  async function session(): Promise<string> {
    const res = await post(undefined, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'front-test', version: '1' } } });
    assert.equal(res.status, 200);
    const sid = res.headers.get('mcp-session-id');
    assert.ok(sid);
    assert.equal((await answer(res))[1][0]?.id, 0, 'the initialize answer');
    assert.equal((await post(sid, { jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202);
    return sid;
  }

  it('answers a quick request as JSON, a slow one on an SSE stream that ends with it, a batch on one stream', async () => {
    const sid = await session();
    const quick = await post(sid, call(1, 'echo', { a: 1 }));
    assert.equal(quick.headers.get('mcp-session-id'), sid);
    const [how, [m]] = await answer(quick);
    assert.equal(how, 'json', 'the answer was the first thing for the request, within the moment headers wait');
    assert.deepEqual([m?.id, m?.result?.content?.[0]?.text], [1, '{"a":1}']);
    const slow = await post(sid, call(2, 'sleep', { ms: 200 }));
    assert.equal(slow.headers.get('mcp-session-id'), sid);
    const [slowHow, slowAnswer] = await answer(slow);
    assert.equal(slowHow, 'sse', 'the headers went out before the answer: a stream');
    assert.deepEqual(slowAnswer.map((x) => x.id), [2]);
    const batch = await post(sid, [call('x', 'sleep', { ms: 50 }), call('y', 'echo', { b: 2 })], { 'mcp-protocol-version': '2025-03-26' });
    const [bhow, both] = await answer(batch);
    assert.equal(bhow, 'sse');
    assert.deepEqual(both.map((x) => x.id).sort(), ['x', 'y']);
  });

  it('sends a server request on the stream of the call it belongs to, and takes the answer by POST', async () => {
    const sid = await session();
    const res = await post(sid, call(7, 'ask'));
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('roots/list')) text += new TextDecoder().decode((await reader.read()).value);
    const ask = events(text).find((m) => m.method === 'roots/list')!;
    assert.equal((await post(sid, { jsonrpc: '2.0', id: ask.id, result: { roots: [] } })).status, 202);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
    assert.deepEqual(events(text).map((m) => m.id), [ask.id, 7]);
  });

  it('sends what relates to no single open request on the GET stream, and allows one GET stream', async () => {
    const sid = await session();
    const get = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } });
    assert.equal(get.status, 200);
    const second = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } });
    assert.equal(second.status, 409);
    // Two calls open: the server's request belongs to neither as far as the router can tell.
    const slow = post(sid, call(1, 'sleep', { ms: 500 }));
    await new Promise((r) => setTimeout(r, 100));
    const asking = post(sid, call(2, 'ask'));
    const reader = get.body!.getReader();
    let text = '';
    while (!text.includes('roots/list')) text += new TextDecoder().decode((await reader.read()).value);
    const ask = events(text).find((m) => m.method === 'roots/list')!;
    await post(sid, { jsonrpc: '2.0', id: ask.id, result: { roots: [] } });
    assert.deepEqual((await answer(await asking))[1].map((m) => m.id), [2]);
    assert.deepEqual((await answer(await slow))[1].map((m) => m.id), [1]);
    await reader.cancel();
  });

  it('refuses what the SDK refuses, with the same statuses and codes', async () => {
    const sid = await session();
    const cases: [Promise<Response>, number, number, RegExp][] = [
      [post(sid, call(1, 'echo'), { accept: 'application/json' }), 406, -32000, /must accept both application\/json and text\/event-stream/],
      [post(sid, call(1, 'echo'), { 'content-type': 'text/plain' }), 415, -32000, /Content-Type must be application\/json/],
      [post(sid, { hello: 'world' }), 400, -32700, /Invalid JSON-RPC message/],
      [post(sid, call(1, 'echo'), { 'mcp-protocol-version': '1999-01-01' }), 400, -32000, /Unsupported protocol version: 1999-01-01/],
      [post(sid, { jsonrpc: '2.0', id: 3, method: 'initialize', params: {} }), 400, -32600, /already initialized/],
      [fetch(url, { headers: { accept: 'application/json', 'mcp-session-id': sid } }), 406, -32000, /must accept text\/event-stream/],
    ];
    for (const [answer, status, code, message] of cases) {
      const res = await answer;
      assert.equal(res.status, status);
      const body = (await res.json()) as { error: { code: number; message: string } };
      assert.equal(body.error.code, code);
      assert.match(body.error.message, message);
    }
  });

  it('a refused initialize leaves no session and no process behind', async () => {
    const before = r.router.sessionCounts().raw?.['1.0.0'] ?? 0;
    const init = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'refused', version: '1' } } };
    const refusals: [Promise<Response>, number][] = [
      [post(undefined, init, { accept: 'application/json' }), 406],
      [post(undefined, [init, { jsonrpc: '2.0', method: 'notifications/initialized' }]), 400],
    ];
    for (const [answer, status] of refusals) assert.equal((await answer).status, status);
    assert.equal(r.router.sessionCounts().raw?.['1.0.0'] ?? 0, before);
    const processes = (): number => Number(/^mcp_rollout_backend_processes\{server="raw",version="1\.0\.0"\} (\d+)$/m.exec(r.router.metrics.prometheus())?.[1]);
    for (let i = 0; i < 100 && processes() !== before; i++) await new Promise((done) => setTimeout(done, 50)); // the refused ones' processes exit
    assert.equal(processes(), before, 'a process per open session, none for the refused ones');
  });

  it('ends the session with DELETE: its backend goes, and the session is not found after', async () => {
    const sid = await session();
    const counts = () => r.router.sessionCounts().raw?.['1.0.0'] ?? 0;
    const before = counts();
    const del = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } });
    assert.equal(del.status, 200);
    assert.equal(counts(), before - 1);
    assert.equal((await post(sid, call(1, 'echo'))).status, 404);
  });
});
