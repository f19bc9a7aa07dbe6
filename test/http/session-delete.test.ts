/**
 * A client's DELETE ends its session on every router of a store that shares session ends: the router it
 * reaches tells the others (a NOTIFY carrying a digest of the id on PostgreSQL, in process on the memory
 * store), and each forgets the session as ended by its client: its sessions_active goes down, its process (a
 * stdio version's) stops, and a later request with the id gets 404 there instead of being taken on again.
 * Real serve processes over a real throwaway PostgreSQL cluster, real server-everything and weather backends;
 * two in-process routers over one MemoryStore for what must hold the moment the DELETE is answered.
 */
import { strict as assert } from 'node:assert';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from '../../src/registry/registry.js';
import { LiveView } from '../../src/registry/live-view.js';
import { DEFAULT_ROUTER_OPTIONS, HttpRouter } from '../../src/router/http-router.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { PostgresStore } from '../../src/state/postgres-store.js';
import { freePort, startEverything, type RunningBackend } from '../helpers/everything-http.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const WEATHER = fileURLToPath(new URL('../../../examples/weather-server.mjs', import.meta.url));
const weatherStdio = { type: 'stdio' as const, command: process.execPath, args: [WEATHER, 'v1'], env: {} };
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'session-delete', version: '1' } } };

/** A new session of `server` on `base` by raw HTTP (initialize, initialized): its id. */
async function open(base: string, server: string): Promise<string> {
  const res = await fetch(`${base}/mcp/${server}`, { method: 'POST', headers: HEADERS, body: JSON.stringify(INIT) });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const sid = res.headers.get('mcp-session-id');
  assert.ok(sid);
  const ack = await fetch(`${base}/mcp/${server}`, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await ack.text();
  return sid;
}

/** One tools/call of session `sid` sent to `base`: the status and the body (JSON or an SSE stream). */
async function call(base: string, server: string, sid: string, name: string, args: Record<string, unknown> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}/mcp/${server}`, {
    method: 'POST',
    headers: { ...HEADERS, 'mcp-session-id': sid },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
  });
  return { status: res.status, text: await res.text() };
}

async function del(base: string, server: string, sid: string): Promise<number> {
  const res = await fetch(`${base}/mcp/${server}`, { method: 'DELETE', headers: { ...HEADERS, 'mcp-session-id': sid } });
  await res.text();
  return res.status;
}

/** A gauge of a router's /metrics for `server` version 1.0.0 (0 when absent). */
async function gauge(base: string, name: string, server: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name}\\{server="${server}",version="1\\.0\\.0"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** Polls a gauge until it reads `want` (the event: the router heard of the DELETE); fails after 200 reads. */
async function untilGauge(base: string, name: string, server: string, want: number): Promise<void> {
  let seen = -1;
  for (let i = 0; i < 200; i++) {
    seen = await gauge(base, name, server);
    if (seen === want) return;
    await sleep(50);
  }
  assert.fail(`${name} of ${server} on ${base} stayed ${seen}, not ${want}`);
}

describe('a client DELETE on two serve routers of one PostgreSQL store', { timeout: 120_000 }, () => {
  let cluster: PgCluster;
  let p: TempProject;
  let backend: RunningBackend;
  let a: ServeProcess;
  let b: ServeProcess;
  before(async () => {
    cluster = await startPostgres();
    p = await tempProject();
    backend = await startEverything();
    const url = await cluster.createDatabase('fleet');
    const env = { ...p.env, MCP_ROLLOUT_STORE: url };
    const store = new PostgresStore(url);
    await new Registry(store).deploy('everything', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } });
    await new Registry(store).deploy('weather', { version: '1.0.0', transport: weatherStdio });
    await store.close();
    a = await startServe(await freePort(), { cwd: p.dir, env });
    b = await startServe(await freePort(), { cwd: p.dir, env });
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await backend?.stop();
    await p?.cleanup();
    await cluster?.stop();
  });

  it('an HTTP session used on A and B, deleted through A: B forgets it (sessions_active 0) and answers its id 404', async () => {
    const sid = await open(a.base, 'everything');
    assert.match((await call(a.base, 'everything', sid, 'echo', { message: 'on A' })).text, /Echo: on A/);
    const onB = await call(b.base, 'everything', sid, 'echo', { message: 'on B' });
    assert.equal(onB.status, 200, onB.text);
    assert.equal(await gauge(b.base, 'mcp_rollout_sessions_active', 'everything'), 1, 'B took the session on');

    assert.equal(await del(a.base, 'everything', sid), 200);
    // Before: B kept it until --idle-timeout (the gauge stayed 1), and took the id on again at its next request.
    await untilGauge(b.base, 'mcp_rollout_sessions_active', 'everything', 0);
    const afterB = await call(b.base, 'everything', sid, 'echo', { message: 'after the DELETE' });
    assert.equal(afterB.status, 404, afterB.text);
    assert.match(afterB.text, /Session not found: initialize a new session/);
    assert.equal(await gauge(b.base, 'mcp_rollout_sessions_active', 'everything'), 0, 'not taken on again');
    assert.equal((await call(a.base, 'everything', sid, 'echo', { message: 'on A again' })).status, 404, 'A heard its own notice: no harm');
    assert.equal(await gauge(a.base, 'mcp_rollout_sessions_active', 'everything'), 0);
  });

  it('a stdio session used on A and B (a process on each), deleted through A: B ends its process', async () => {
    const sid = await open(a.base, 'weather');
    assert.match((await call(a.base, 'weather', sid, 'current')).text, /\(v1\)/);
    const onB = await call(b.base, 'weather', sid, 'current'); // B moves it to a process of its own
    assert.equal(onB.status, 200, onB.text);
    assert.match(onB.text, /\(v1\)/);
    assert.equal(await gauge(b.base, 'mcp_rollout_backend_processes', 'weather'), 1);

    assert.equal(await del(a.base, 'weather', sid), 200);
    await untilGauge(b.base, 'mcp_rollout_sessions_active', 'weather', 0);
    await untilGauge(b.base, 'mcp_rollout_backend_processes', 'weather', 0);
    const afterB = await call(b.base, 'weather', sid, 'current');
    assert.equal(afterB.status, 404, afterB.text);
    assert.equal(await gauge(b.base, 'mcp_rollout_backend_processes', 'weather'), 0, 'no process started for the ended id');
  });
});

describe('a client DELETE on two routers in one process over one MemoryStore', { timeout: 60_000 }, () => {
  it('a router that never held the session refuses its id from the moment the DELETE is answered', async () => {
    const backend = await startEverything();
    const registry = new Registry(new MemoryStore());
    await registry.deploy('everything', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } });
    const views = [new LiveView(registry.store, 20), new LiveView(registry.store, 20)];
    await Promise.all(views.map((v) => v.start()));
    const routers = views.map((v) => new HttpRouter(v, { ...DEFAULT_ROUTER_OPTIONS, port: 0 }));
    try {
      const [a, b] = (await Promise.all(routers.map(async (r) => `http://127.0.0.1:${await r.listen()}`))) as [string, string];
      const [ended, kept] = [await open(a, 'everything'), await open(a, 'everything')];
      assert.equal(await del(a, 'everything', ended), 200);
      // The store told B before A answered (in process): B does not take the ended id on, nor count it.
      const late = await call(b, 'everything', ended, 'echo', { message: 'late' });
      assert.equal(late.status, 404, late.text);
      assert.match(late.text, /Session not found: initialize a new session/);
      assert.deepEqual(routers[1]!.sessionCounts(), {});
      // Another session of A's still carries on through B, and A holds only that one.
      assert.match((await call(b, 'everything', kept, 'echo', { message: 'kept' })).text, /Echo: kept/);
      assert.deepEqual(routers[0]!.sessionCounts(), { everything: { '1.0.0': 1 } });
      assert.deepEqual(routers[1]!.sessionCounts(), { everything: { '1.0.0': 1 } });
    } finally {
      await Promise.all(routers.map((r) => r.close(1000)));
      views.forEach((v) => v.stop());
      await backend.stop();
    }
  });
});
