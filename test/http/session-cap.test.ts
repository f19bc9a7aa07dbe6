/**
 * The session cap (`--max-sessions`) of routers sharing one file store (one project) behind a load balancer
 * without stickiness: a session opened on router A and ended by a DELETE that reached router B stays in A's
 * table (the file store does not share session ends: A never hears of the DELETE; on PostgreSQL it does, see
 * session-delete.test.ts). At the cap, such an idle session on an HTTP backend gives way to a new one instead
 * of A answering 503; a live session forgotten that way is taken on again from its id. Two real serve
 * processes, a real server-everything.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { freePort, startEverything, type RunningBackend } from '../helpers/everything-http.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'session-cap', version: '1' } } };

/** A new session on `base` by raw HTTP (initialize, initialized): its id, or the refusal's status and body. */
async function initialize(base: string): Promise<{ status: number; sid: string | null; text: string }> {
  const res = await fetch(`${base}/mcp/everything`, { method: 'POST', headers: HEADERS, body: JSON.stringify(INIT) });
  const text = await res.text();
  const sid = res.headers.get('mcp-session-id');
  if (res.status === 200 && sid !== null) {
    const ack = await fetch(`${base}/mcp/everything`, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    await ack.text();
  }
  return { status: res.status, sid, text };
}

async function del(base: string, sid: string): Promise<number> {
  const res = await fetch(`${base}/mcp/everything`, { method: 'DELETE', headers: { ...HEADERS, 'mcp-session-id': sid } });
  await res.text();
  return res.status;
}

async function echo(base: string, sid: string, message: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}/mcp/everything`, {
    method: 'POST',
    headers: { ...HEADERS, 'mcp-session-id': sid },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message } } }),
  });
  return { status: res.status, text: await res.text() };
}

/** A router's gauge of open sessions of everything 1.0.0 (0 when absent). */
async function active(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = /^mcp_rollout_sessions_active\{server="everything",version="1\.0\.0"\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('--max-sessions on two routers of one file store, DELETEs reaching the other router', { timeout: 120_000 }, () => {
  let p: TempProject;
  let backend: RunningBackend;
  let env: NodeJS.ProcessEnv;
  const routers: ServeProcess[] = [];
  before(async () => {
    p = await tempProject();
    backend = await startEverything();
    env = p.env;
    await new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env })).deploy('everything', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } });
  });
  after(async () => {
    await Promise.all(routers.map((r) => r.stop()));
    await backend.stop();
    await p.cleanup();
  });

  it('the 4th initialize on A succeeds: an idle session ended through B gives way; A counts no more than its cap', async () => {
    routers.push(await startServe(await freePort(), { cwd: p.dir, env }, ['--max-sessions', '3']), await startServe(await freePort(), { cwd: p.dir, env }, ['--max-sessions', '3']));
    const [a, b] = routers as [ServeProcess, ServeProcess];
    for (let i = 0; i < 3; i++) {
      const s = await initialize(a.base);
      assert.equal(s.status, 200, s.text);
      assert.equal(await del(b.base, s.sid!), 200, 'the DELETE reached router B');
    }
    assert.equal(await active(a.base), 3, 'A never heard of the DELETEs');
    // Before: 503 "server "everything" has 3 open sessions, the most allowed".
    const fourth = await initialize(a.base);
    assert.equal(fourth.status, 200, fourth.text);
    assert.equal(await active(a.base), 3, 'one ended session gave way');
    assert.match((await echo(a.base, fourth.sid!, 'fourth')).text, /Echo: fourth/);

    // Two more: the last two ended sessions give way; then a 7th, for which the 4th (live, idle) gives way.
    const [fifth, sixth] = [await initialize(a.base), await initialize(a.base)];
    assert.equal(fifth.status, 200, fifth.text);
    assert.equal(sixth.status, 200, sixth.text);
    const seventh = await initialize(a.base);
    assert.equal(seventh.status, 200, seventh.text);
    assert.equal(await active(a.base), 3);
    // The 4th was only forgotten: its backend session lives, and A takes it on again from its id.
    const back = await echo(a.base, fourth.sid!, 'forgotten, not ended');
    assert.equal(back.status, 200, back.text);
    assert.match(back.text, /Echo: forgotten, not ended/);
  });
});
