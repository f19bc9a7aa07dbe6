/**
 * Session ids that outlive their router: sealed with the key ring the store shares, a session on an HTTP
 * backend carries on after `serve` restarts (file store) and on another `serve` of the same database; ids
 * sealed with the previous key still open after `keys rotate`, ids sealed with a dropped key do not. A session
 * whose backend was a process inside the stopped router (a stdio version) is moved to a new process by the
 * router its next request reaches, keeping its id (404 under --on-rollback 404). Real serve processes, real
 * server-everything and weather backends, the official SDK v1 client, a real throwaway PostgreSQL cluster.
 */
import { strict as assert } from 'node:assert';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Registry } from '../../src/registry/registry.js';
import { DEFAULT_ROUTER_OPTIONS, HttpRouter } from '../../src/router/http-router.js';
import { LiveView } from '../../src/registry/live-view.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { PostgresStore } from '../../src/state/postgres-store.js';
import { freePort, startEverything, type RunningBackend } from '../helpers/everything-http.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { runCli } from '../helpers/run-cli.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';
import { weatherHttp, type Weather } from '../helpers/weather-http.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));
const WEATHER = fileURLToPath(new URL('../../../examples/weather-server.mjs', import.meta.url));
const weatherStdio = { type: 'stdio' as const, command: process.execPath, args: [WEATHER, 'v1'], env: {} };
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'continuity', version: '1' } } };

async function connect(base: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp/everything`));
  const client = new Client({ name: 'continuity-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

/** An SDK v1 client of `server` on `base`; with `sessionId`, it carries on that session (no initialize). */
async function connectTo(base: string, server: string, sessionId?: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp/${server}`), sessionId === undefined ? {} : { sessionId });
  const client = new Client({ name: 'continuity-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

/** The weather server's `current` answer (its text ends with the variant). */
async function current(client: Client): Promise<string> {
  const r = (await client.callTool({ name: 'current', arguments: {} })) as { content: { text: string }[] };
  return r.content[0]!.text;
}

async function echo(client: Client, message: string): Promise<string> {
  const r = await client.callTool({ name: 'echo', arguments: { message } });
  return (r.content as { text: string }[])[0]!.text;
}

/** A new session by raw HTTP (initialize, initialized): its id. */
async function rawSession(base: string, server: string): Promise<string> {
  const res = await fetch(`${base}/mcp/${server}`, { method: 'POST', headers: HEADERS, body: JSON.stringify(INIT) });
  await res.text();
  assert.equal(res.status, 200);
  const sid = res.headers.get('mcp-session-id');
  assert.ok(sid);
  const ack = await fetch(`${base}/mcp/${server}`, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await ack.text();
  return sid;
}

/** One echo call of session `sid` sent to `base`: the status and the body (JSON or an SSE stream). */
async function rawEcho(base: string, sid: string, message: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}/mcp/everything`, {
    method: 'POST',
    headers: { ...HEADERS, 'mcp-session-id': sid },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message } } }),
  });
  return { status: res.status, text: await res.text() };
}

describe('a router restart on the file store', { timeout: 120_000 }, () => {
  let p: TempProject;
  let backend: RunningBackend;
  let serve: ServeProcess | undefined;
  before(async () => {
    p = await tempProject();
    backend = await startEverything();
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('everything', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } });
    await registry.deploy('raw', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW], env: {} } });
    await registry.deploy('weather', { version: '1.0.0', transport: weatherStdio });
  });
  after(async () => {
    await serve?.stop();
    await backend.stop();
    await p.cleanup();
  });
  const rotate = async (): Promise<void> => {
    const r = await runCli('rollout', ['keys', 'rotate'], { cwd: p.dir, env: p.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rotated the session key ring in .*keys\.json: new current key [\w-]+; ids sealed with [\w-]+ still open until the next rotation/);
  };
  const restart = async (port: number, args: readonly string[] = []): Promise<void> => {
    assert.equal(await serve!.stop(), 0);
    serve = await startServe(port, { cwd: p.dir, env: p.env }, args);
  };

  it('loses no session on an HTTP backend: the SDK client carries on, across one key rotation but not two', async () => {
    const port = await freePort();
    serve = await startServe(port, { cwd: p.dir, env: p.env });
    const keys = join(p.dir, '.mcp-rollout', 'keys.json');
    assert.equal(statSync(keys).mode & 0o777, 0o600, 'the key ring was made by serve, owner-only');
    const { client, transport } = await connect(serve.base);
    try {
      assert.equal(await echo(client, 'before'), 'Echo: before');
      const sid = transport.sessionId;
      await restart(port);
      assert.equal(await echo(client, 'after a restart'), 'Echo: after a restart');
      assert.equal(transport.sessionId, sid, 'the same session');
      await rotate();
      await restart(port);
      assert.equal(await echo(client, 'sealed with the previous key'), 'Echo: sealed with the previous key');
      await rotate();
      await restart(port);
      await assert.rejects(echo(client, 'sealed with a dropped key'), /404|Session not found/);
    } finally {
      await client.close();
    }
  });

  it('under --on-rollback 404, a session whose backend process was inside the stopped router gets 404, as before', async () => {
    const port = await freePort();
    await serve?.stop();
    serve = await startServe(port, { cwd: p.dir, env: p.env }, ['--on-rollback', '404']);
    const sid = await rawSession(serve.base, 'raw');
    await restart(port, ['--on-rollback', '404']);
    const res = await fetch(`${serve.base}/mcp/raw`, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }) });
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { jsonrpc: '2.0', id: 3, error: { code: -32001, message: 'Session not found: initialize a new session' } });
  });

  it('a session on a stdio version carries on after the restart: the same SDK client, the same id, a new process', async () => {
    const port = await freePort();
    await serve?.stop();
    serve = await startServe(port, { cwd: p.dir, env: p.env });
    const { client, transport } = await connectTo(serve.base, 'weather');
    try {
      assert.match(await current(client), /\(v1\)$/);
      const sid = transport.sessionId;
      await restart(port);
      assert.match(await current(client), /\(v1\)$/, 'answered after the restart (before: 404)');
      assert.equal(transport.sessionId, sid, 'the same session id');
      assert.match(await current(client), /\(v1\)$/, 'and again, on the process it moved to');
      const metrics = await (await fetch(`${serve.base}/metrics`)).text();
      assert.match(metrics, /^mcp_rollout_sessions_ended_total\{server="weather",version="1\.0\.0",reason="BackendDied"\} 1$/m, 'moved once');
    } finally {
      await client.close();
    }
  });

  it('after the restart, the client reopening its GET stream is what takes the session on; a DELETE ends one without a process', async () => {
    const port = await freePort();
    await serve?.stop();
    serve = await startServe(port, { cwd: p.dir, env: p.env });
    const sid = await rawSession(serve.base, 'weather');
    const gone = await rawSession(serve.base, 'weather');
    await restart(port);
    const stream = new AbortController();
    const get = await fetch(`${serve.base}/mcp/weather`, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' }, signal: stream.signal });
    assert.equal(get.status, 200);
    assert.match(get.headers.get('content-type') ?? '', /text\/event-stream/);
    const call = await fetch(`${serve.base}/mcp/weather`, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'current', arguments: {} } }) });
    assert.equal(call.status, 200);
    assert.match(await call.text(), /\(v1\)/);
    stream.abort();
    await get.body?.cancel().catch(() => undefined);

    const del = await fetch(`${serve.base}/mcp/weather`, { method: 'DELETE', headers: { ...HEADERS, 'mcp-session-id': gone } });
    assert.equal(del.status, 200);
    const after = await fetch(`${serve.base}/mcp/weather`, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': gone }, body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' }) });
    assert.equal(after.status, 404, 'a session its client ended is not taken on again');
    await after.text();
    const procs = await (await fetch(`${serve.base}/metrics`)).text();
    assert.match(procs, /^mcp_rollout_backend_processes\{server="weather",version="1\.0\.0"\} 1$/m, 'one process: the GET-adopted session\'s, none for the DELETE');
  });

  it('a session whose version was rolled back while the router was down moves to the blue and hears list_changed on the GET stream it reopens', async () => {
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('forecast', { version: '1.0.0', transport: weatherStdio });
    await registry.deploy('forecast', { version: '2.0.0', transport: { ...weatherStdio, args: [WEATHER, 'v2'] }, traffic: 100 });
    const port = await freePort();
    await serve?.stop();
    serve = await startServe(port, { cwd: p.dir, env: p.env });
    const sid = await rawSession(serve.base, 'forecast');
    assert.equal(await serve.stop(), 0);
    await registry.rollback('forecast', '2.0.0', 'bad');
    serve = await startServe(port, { cwd: p.dir, env: p.env });
    const call = await fetch(`${serve.base}/mcp/forecast`, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'current', arguments: {} } }) });
    assert.equal(call.status, 200);
    assert.match(await call.text(), /\(v1\)/, 'answered by the blue');
    // The client reopens its stream after the move: the notice was kept for it.
    const stream = new AbortController();
    const get = await fetch(`${serve.base}/mcp/forecast`, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' }, signal: stream.signal });
    assert.equal(get.status, 200);
    const reader = get.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    stream.abort();
    await reader.cancel().catch(() => undefined);
    assert.match(text, /^data: \{"jsonrpc":"2\.0","method":"notifications\/tools\/list_changed"\}/m);
  });
});

describe('two routers on one PostgreSQL store', { timeout: 120_000 }, () => {
  let cluster: PgCluster;
  let p: TempProject;
  let backend: RunningBackend;
  let env: NodeJS.ProcessEnv;
  const routers: ServeProcess[] = [];
  before(async () => {
    cluster = await startPostgres();
    p = await tempProject();
    backend = await startEverything();
    const url = await cluster.createDatabase('fleet');
    env = { ...p.env, MCP_ROLLOUT_STORE: url };
    const store = new PostgresStore(url);
    await new Registry(store).deploy('everything', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } });
    await new Registry(store).deploy('weather', { version: '1.0.0', transport: weatherStdio });
    await store.close();
  });
  after(async () => {
    await Promise.all(routers.map((r) => r.stop()));
    await backend.stop();
    await p.cleanup();
    await cluster.stop();
  });
  const rotate = async (): Promise<{ current: string; previous: string }> => {
    const r = await runCli('rollout', ['keys', 'rotate', '--json'], { cwd: p.dir, env });
    assert.equal(r.code, 0, r.stderr);
    return r.json<{ current: string; previous: string }>();
  };
  /** A new session on `base` once that router seals with key `kid` (it hears of a rotation by NOTIFY). */
  const sessionWithKey = async (base: string, kid: string): Promise<string> => {
    for (let i = 0; i < 100; i++) {
      const sid = await rawSession(base, 'everything');
      if (sid.startsWith(`${kid}.`)) return sid;
      await sleep(50);
    }
    assert.fail(`${base} never sealed with key ${kid}`);
  };

  it('a session opened on router A continues on router B; ids outlive one rotation on either router, not two', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    routers.push(await startServe(portA, { cwd: p.dir, env }), await startServe(portB, { cwd: p.dir, env }));
    const [a, b] = routers as [ServeProcess, ServeProcess];
    const { client, transport } = await connect(a.base);
    try {
      assert.equal(await echo(client, 'on A'), 'Echo: on A');
      const onB = await rawEcho(b.base, transport.sessionId!, 'on B');
      assert.equal(onB.status, 200, onB.text);
      assert.match(onB.text, /Echo: on B/);
      assert.equal(await echo(client, 'back on A'), 'Echo: back on A');

      const untouched = await rawSession(a.base, 'everything'); // sealed with the first key, never shown to B
      const first = await rotate();
      const second = await sessionWithKey(a.base, first.current); // the rotated key, shown to B before B may have heard
      const onB2 = await rawEcho(b.base, second, 'new key on B');
      assert.equal(onB2.status, 200, onB2.text);
      const kept = await rawSession(a.base, 'everything'); // sealed with the second key, never shown to B

      const third = await rotate();
      assert.equal(third.previous, first.current);
      await sessionWithKey(b.base, third.current); // B has the newest ring
      const previous = await rawEcho(b.base, kept, 'previous key');
      assert.equal(previous.status, 200, `sealed with the previous key: still opens (${previous.text})`);
      const dropped = await rawEcho(b.base, untouched, 'dropped key');
      assert.equal(dropped.status, 404, dropped.text);
      assert.match(dropped.text, /Session not found: initialize a new session/);
    } finally {
      await client.close();
    }
  });

  it('a session on a stdio version opened on router A continues on router B once A is stopped', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await startServe(portA, { cwd: p.dir, env });
    const b = await startServe(portB, { cwd: p.dir, env });
    routers.push(a, b);
    const onA = await connectTo(a.base, 'weather');
    assert.match(await current(onA.client), /\(v1\)$/);
    const sid = onA.transport.sessionId!;
    await onA.client.close();
    assert.equal(await a.stop(), 0);
    // The load balancer sends the session's next request to B: an SDK client carrying on the same session there.
    const onB = await connectTo(b.base, 'weather', sid);
    try {
      assert.match(await current(onB.client), /\(v1\)$/, 'answered on B (before: 404 naming A)');
      assert.equal(onB.transport.sessionId, sid);
      assert.match(await current(onB.client), /\(v1\)$/);
    } finally {
      await onB.client.close();
    }
  });
});

describe('two routers in one process over one store', { timeout: 60_000 }, () => {
  it('after a rollback, a router that never held a session of the rolled-back version answers it 404 with the reason', async () => {
    const [one, two] = [await startEverything(), await startEverything()];
    const registry = new Registry(new MemoryStore());
    await registry.deploy('everything', { version: '1.0.0', transport: { type: 'http', url: one.url, headers: {} } });
    await registry.deploy('everything', { version: '2.0.0', transport: { type: 'http', url: two.url, headers: {} }, traffic: 100 });
    const views = [new LiveView(registry.store, 20), new LiveView(registry.store, 20)];
    await Promise.all(views.map((v) => v.start()));
    const routers = views.map((v) => new HttpRouter(v, { ...DEFAULT_ROUTER_OPTIONS, port: 0, onRollback: '404' }));
    const [a, b] = await Promise.all(routers.map(async (r) => `http://127.0.0.1:${await r.listen()}`));
    const { client, transport } = await connect(a!);
    try {
      assert.equal(await echo(client, 'x'), 'Echo: x');
      assert.equal((await rawEcho(b!, transport.sessionId!, 'y')).status, 200, 'B takes the session on');
      const c = await connect(a!);
      await registry.rollback('everything', '2.0.0', 'bad');
      for (let i = 0; i < 100 && views.some((v) => v.get('everything')!.versions.find((x) => x.version === '2.0.0')!.status !== 'inactive'); i++) await sleep(20);
      const late = await rawEcho(b!, c.transport.sessionId!, 'z'); // opened on A before the rollback, never seen by B
      assert.equal(late.status, 404);
      assert.match(late.text, /Session not found: version 2\.0\.0 of \\"everything\\" was rolled back; initialize a new session/);
      await c.client.close();
    } finally {
      await client.close();
      await Promise.all(routers.map((r) => r.close(1000)));
      views.forEach((v) => v.stop());
      await Promise.all([one.stop(), two.stop()]);
    }
  });
});

describe('a version removed under a session, on a router that never held it (two serve processes, file store)', { timeout: 120_000 }, () => {
  let p: TempProject;
  const backends: Weather[] = [];
  const serves: ServeProcess[] = [];
  after(async () => {
    await Promise.all(serves.map((s) => s.stop()));
    await Promise.all(backends.map((b) => b.stop()));
    await p?.cleanup();
  });

  /** The variant a new session on `base` lands on (the weather server's serverInfo.version). */
  async function newSessionVariant(base: string, server: string): Promise<string> {
    const res = await fetch(`${base}/mcp/${server}`, { method: 'POST', headers: HEADERS, body: JSON.stringify(INIT) });
    const text = await res.text();
    return /"serverInfo":\{"name":"weather","version":"(\w+)"/.exec(text)?.[1] ?? text;
  }

  it('moves to the blue on the router it reaches, like a rolled-back one: an HTTP session (SDK v1 client) and a stdio one keep their ids', async () => {
    p = await tempProject();
    const [v1, v2] = [await weatherHttp('v1'), await weatherHttp('v2')];
    backends.push(v1, v2);
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('weather', { version: '1.0.0', transport: { type: 'http', url: v1.url, headers: {} } });
    await registry.deploy('weather', { version: '2.0.0', transport: { type: 'http', url: v2.url, headers: {} }, traffic: 100 });
    await registry.deploy('forecast', { version: '1.0.0', transport: weatherStdio });
    await registry.deploy('forecast', { version: '2.0.0', transport: { ...weatherStdio, args: [WEATHER, 'v2'] }, traffic: 100 });
    const [a, b] = [await startServe(await freePort(), { cwd: p.dir, env: p.env }), await startServe(await freePort(), { cwd: p.dir, env: p.env })];
    serves.push(a, b);
    const onA = await connectTo(a.base, 'weather');
    const stdioSid = await rawSession(a.base, 'forecast');
    const spare = await rawSession(a.base, 'weather'); // on v2 too: for a router under --on-rollback 404
    try {
      assert.equal(await current(onA.client), 'sunny, 21°C (v2)');
      // forecast first: a view that has seen weather's removal (the later write to the one registry file) has seen both.
      for (const server of ['forecast', 'weather']) {
        const r = await runCli('rollout', ['remove-version', server, '2.0.0'], { cwd: p.dir, env: p.env });
        assert.equal(r.code, 0, r.stderr);
      }
      // B has seen the removal once a new session lands on v1 (the probes that landed on v2 move with the removal).
      let probesOnV2 = 0;
      for (let i = 0; i < 200 && (await newSessionVariant(b.base, 'weather')) !== 'v1'; i++, probesOnV2++) await sleep(25);
      const onB = await connectTo(b.base, 'weather', onA.transport.sessionId);
      try {
        assert.equal(await current(onB.client), 'sunny, 21°C (v1)', 'B moved the session to the blue');
        assert.equal(onB.transport.sessionId, onA.transport.sessionId, 'the same session id');
      } finally {
        await onB.client.close();
      }
      const call = await fetch(`${b.base}/mcp/forecast`, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': stdioSid }, body: JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'current', arguments: {} } }) });
      assert.equal(call.status, 200);
      assert.match(await call.text(), /\(v1\)/, 'the stdio session too, on a process of the blue');
      const metrics = await (await fetch(`${b.base}/metrics`)).text();
      assert.match(metrics, new RegExp(`^mcp_rollout_sessions_ended_total\\{server="weather",version="2\\.0\\.0",reason="VersionRemoved"\\} ${probesOnV2 + 1}$`, 'm'));
      assert.match(metrics, /^mcp_rollout_sessions_ended_total\{server="forecast",version="2\.0\.0",reason="VersionRemoved"\} 1$/m);
      // Under --on-rollback 404 such a session gets 404 naming the removal, as before.
      const c = await startServe(await freePort(), { cwd: p.dir, env: p.env }, ['--on-rollback', '404']);
      serves.push(c);
      const refused = await fetch(`${c.base}/mcp/weather`, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': spare }, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'current', arguments: {} } }) });
      assert.equal(refused.status, 404);
      assert.match(await refused.text(), /Session not found: version 2\.0\.0 of \\"weather\\" was removed; initialize a new session/);
    } finally {
      await onA.client.close();
    }
  });

});
