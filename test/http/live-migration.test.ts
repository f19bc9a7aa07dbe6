/**
 * Live migration of HTTP sessions (onRollback 'migrate', the default): a session whose version is rolled back,
 * or whose HTTP backend restarted, keeps its Mcp-Session-Id; the official SDK v1 client (no retry logic of its
 * own) goes on calling tools, answered by the version the weights now choose, and hears list_changed when the
 * lists differ. Real weather servers (examples/weather-server.mjs: v1 has current and forecast, v2 adds alerts;
 * every answer names its variant) over Streamable HTTP and over stdio (bridged), through a real router; a
 * session also moves between the two kinds.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { DEFAULT_ROUTER_OPTIONS, HttpRouter } from '../../src/router/http-router.js';
import { LiveView } from '../../src/registry/live-view.js';
import { Registry } from '../../src/registry/registry.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { pollingServer } from '../helpers/polling-http.js';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';
import { WEATHER, weatherHttp, type Weather } from '../helpers/weather-http.js';

const stdio = (variant: string) => ({ type: 'stdio' as const, command: process.execPath, args: [WEATHER, variant], env: {} });

/** An SDK v1 client on `url`, counting the tools/list_changed notifications it receives. */
async function connect(url: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport; changes: () => number }> {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'migration-test', version: '1.0.0' });
  let changes = 0;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++);
  await client.connect(transport);
  return { client, transport, changes: () => changes };
}

/** The variant that answered `current` (its text ends with it, "(v1)"). */
async function variantOf(client: Client): Promise<string> {
  const r = (await client.callTool({ name: 'current', arguments: {} })) as { content: { text: string }[] };
  return /\((\w+)\)$/.exec(r.content[0]!.text)?.[1] ?? r.content[0]!.text;
}

/** Polls until `cond` holds; fails naming `what` (a guard against hanging, not a timed assertion). */
async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 60_000; Date.now() < end; await sleep(25)) if (await cond()) return;
  assert.fail(`never happened: ${what}`);
}

/** One series of the ended-or-moved sessions counter (0 when absent). */
async function left(base: string, version: string, reason: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^mcp_rollout_sessions_ended_total\\{server="weather",version="${version.replace(/\./g, '\\.')}",reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const RAW_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };

/**
 * A forwarder to the MCP endpoint `target` that holds the first initialize until `release()` (`arrived` resolves
 * when it is held); other POSTs and DELETEs pass, GET streams are refused (405).
 */
async function heldInitialize(target: string): Promise<{ url: string; arrived: Promise<void>; release: () => void; close: () => Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let arrive!: () => void;
  const arrived = new Promise<void>((resolve) => (arrive = resolve));
  let held = false;
  const forward = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (req.method === 'GET') return void res.writeHead(405, { allow: 'POST, DELETE' }).end();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (!held && body.includes('"initialize"')) {
      held = true;
      arrive();
      await released;
    }
    const headers: Record<string, string> = {};
    for (const k of ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version']) if (typeof req.headers[k] === 'string') headers[k] = req.headers[k];
    const answer = await fetch(target, { method: req.method!, headers, ...(req.method === 'POST' ? { body } : {}) });
    const out: Record<string, string> = {};
    for (const k of ['content-type', 'mcp-session-id']) if (answer.headers.has(k)) out[k] = answer.headers.get(k)!;
    res.writeHead(answer.status, out).end(Buffer.from(await answer.arrayBuffer()));
  };
  const server = http.createServer((req, res) => void forward(req, res).catch(() => res.destroy()));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    arrived,
    release,
    close: async () => {
      release();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('live migration of HTTP sessions', () => {
  const backends: { stop(): Promise<void> }[] = [];
  let r: RouterHarness | undefined;
  afterEach(async () => {
    await r?.close();
    r = undefined;
    await Promise.all(backends.splice(0).map((b) => b.stop()));
  });

  /** The client on green (v2, all the traffic), green rolled back: the same session goes on, on blue (v1). */
  const rollbackUnderClient = async (): Promise<void> => {
    const c = await connect(r!.url('weather'));
    try {
      assert.equal(await variantOf(c.client), 'v2');
      const sid = c.transport.sessionId;
      await until('the client listens on its GET stream', () => r!.router.openStreams() === 1);
      await r!.registry.rollback('weather', '2.0.0', 'bad');
      await until('tools/list_changed reached the client', () => c.changes() > 0); // v1 has no alerts tool
      assert.equal(await variantOf(c.client), 'v1', 'the next call is answered by the blue');
      assert.equal(c.transport.sessionId, sid, 'the session id stayed');
      const tools = (await c.client.listTools()).tools.map((t) => t.name);
      assert.deepEqual(tools, ['current', 'forecast']);
      assert.deepEqual(r!.router.sessionCounts(), { weather: { '1.0.0': 1 } });
      assert.equal(await left(r!.base, '2.0.0', 'VersionRolledBack'), 1);
      assert.equal(c.changes(), 1, 'one tools/list_changed');
    } finally {
      await c.client.close();
    }
  };

  /** A router over weather 1.0.0 (v1, the blue) and 2.0.0 (v2, all the traffic), each over stdio or HTTP (a server of its own). */
  const blueGreen = async (blue: 'http' | 'stdio', green: 'http' | 'stdio'): Promise<RouterHarness> => {
    const transport = async (variant: string, kind: 'http' | 'stdio') => {
      if (kind === 'stdio') return stdio(variant);
      const b = await weatherHttp(variant);
      backends.push(b);
      return { type: 'http' as const, url: b.url, headers: {} };
    };
    const [t1, t2] = [await transport('v1', blue), await transport('v2', green)];
    return startRouter(async (reg) => {
      await reg.deploy('weather', { version: '1.0.0', transport: t1 });
      await reg.deploy('weather', { version: '2.0.0', transport: t2, traffic: 100 });
    });
  };

  /** A registry in memory (for routers of the test's own) over weather 1.0.0 (v1, the blue) and 2.0.0 (v2, all the traffic), over HTTP. */
  const httpBlueGreenRegistry = async (): Promise<Registry> => {
    const [v1, v2] = [await weatherHttp('v1'), await weatherHttp('v2')];
    backends.push(v1, v2);
    const registry = new Registry(new MemoryStore());
    await registry.deploy('weather', { version: '1.0.0', transport: { type: 'http', url: v1.url, headers: {} } });
    await registry.deploy('weather', { version: '2.0.0', transport: { type: 'http', url: v2.url, headers: {} }, traffic: 100 });
    return registry;
  };

  // Rolled back under a session: [blue's kind, green's kind, what the move does].
  const rollbacks = [
    ['http', 'http', 'an http version rolled back under a session: the next call is answered by the blue, after list_changed'],
    ['stdio', 'stdio', 'a bridged stdio version rolled back under a session: the same, with a new process behind the same front'],
    ['stdio', 'http', 'across backend kinds: an http version rolled back under a session moves it to the stdio blue, behind a front of its own'],
    ['http', 'stdio', 'across backend kinds: a bridged stdio version rolled back under a session moves it to the http blue, the front staying'],
  ] as const;
  for (const [blue, green, what] of rollbacks) {
    it(what, async () => {
      r = await blueGreen(blue, green);
      await rollbackUnderClient();
    });
  }

  it('across backend kinds: an HTTP backend that forgot the session moves it to the stdio version the weights choose, where the request is answered', async () => {
    const first = await weatherHttp('v2');
    backends.push(first);
    r = await startRouter(async (reg) => {
      await reg.deploy('weather', { version: '1.0.0', transport: stdio('v1') });
      await reg.deploy('weather', { version: '2.0.0', transport: { type: 'http', url: first.url, headers: {} }, traffic: 100 });
    });
    const c = await connect(r.url('weather'));
    try {
      assert.equal(await variantOf(c.client), 'v2');
      const sid = c.transport.sessionId;
      await r.registry.setTraffic('weather', '2.0.0', 0, 'the weights now choose the stdio version');
      await until('the router saw the weights', () => r!.view.get('weather')!.versions.find((v) => v.version === '2.0.0')!.trafficPercentage === 0);
      assert.deepEqual(r.router.sessionCounts(), { weather: { '2.0.0': 1 } }, 'the session stays (drain) until its backend forgets it');
      await first.stop();
      backends.push(await weatherHttp('v2', first.port)); // same port: it knows no session
      assert.equal(await variantOf(c.client), 'v1', 'the call that met the 404 is answered on the stdio version');
      assert.equal(await variantOf(c.client), 'v1');
      assert.equal(c.transport.sessionId, sid);
      assert.deepEqual(r.router.sessionCounts(), { weather: { '1.0.0': 1 } });
      assert.equal(await left(r.base, '2.0.0', 'BackendSessionGone'), 1);
    } finally {
      await c.client.close();
    }
  });

  it('an HTTP backend restarted under a live session: the next call succeeds on a fresh backend session', async () => {
    const first = await weatherHttp('v1');
    backends.push(first);
    r = await startRouter(async (reg) => void (await reg.deploy('weather', { version: '1.0.0', transport: { type: 'http', url: first.url, headers: {} } })));
    const c = await connect(r.url('weather'));
    try {
      assert.equal(await variantOf(c.client), 'v1');
      const sid = c.transport.sessionId;
      await first.stop();
      backends.push(await weatherHttp('v1', first.port)); // same port: it knows no session
      assert.equal(await variantOf(c.client), 'v1', 'the call after the restart is answered');
      assert.equal(await variantOf(c.client), 'v1');
      assert.equal(c.transport.sessionId, sid);
      assert.equal(await left(r.base, '1.0.0', 'BackendSessionGone'), 1);
      assert.equal(c.changes(), 0, 'the same version: no list changed');
    } finally {
      await c.client.close();
    }
  });

  it('a version removed while a new session\'s initialize is at its backend: the session, joining after the change, moves to the blue at once', async () => {
    const [v1, v2] = [await weatherHttp('v1'), await weatherHttp('v2')];
    backends.push(v1, v2);
    const gate = await heldInitialize(v2.url);
    try {
      r = await startRouter(async (reg) => {
        await reg.deploy('weather', { version: '1.0.0', transport: { type: 'http', url: v1.url, headers: {} } });
        await reg.deploy('weather', { version: '2.0.0', transport: { type: 'http', url: gate.url, headers: {} }, traffic: 100 });
      });
      const opening = fetch(r.url('weather'), { method: 'POST', headers: RAW_HEADERS, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'late', version: '1' } } }) });
      await gate.arrived;
      await r.registry.removeVersion('weather', '2.0.0');
      await until('the router saw the removal', () => r!.view.get('weather')!.versions.every((v) => v.version !== '2.0.0'));
      gate.release();
      const res = await opening;
      assert.match(await res.text(), /"version":"v2"/, 'initialized on the version chosen before the removal');
      const sid = res.headers.get('mcp-session-id')!;
      await until('the session moved with no request of its own', async () => (await left(r!.base, '2.0.0', 'VersionRemoved')) === 1);
      assert.deepEqual(r.router.sessionCounts(), { weather: { '1.0.0': 1 } });
      const call = await fetch(r.url('weather'), { method: 'POST', headers: { ...RAW_HEADERS, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'current', arguments: {} } }) });
      assert.match(await call.text(), /sunny, 21°C \(v1\)/);
    } finally {
      await gate.close();
    }
  });

  it('a migrated session adopted by another router (stale sealed claims) moves again there', async () => {
    const registry = await httpBlueGreenRegistry();
    const views = [new LiveView(registry.store, 20), new LiveView(registry.store, 20)];
    await Promise.all(views.map((v) => v.start()));
    const routers = views.map((v) => new HttpRouter(v, { ...DEFAULT_ROUTER_OPTIONS, port: 0 }));
    const [a, b] = await Promise.all(routers.map(async (x) => `http://127.0.0.1:${await x.listen()}/mcp/weather`));
    const c = await connect(a!);
    try {
      assert.equal(await variantOf(c.client), 'v2');
      await registry.rollback('weather', '2.0.0', 'bad');
      await until('both routers saw the rollback', () => views.every((v) => v.get('weather')!.versions.find((x) => x.version === '2.0.0')!.status === 'inactive'));
      assert.equal(await variantOf(c.client), 'v1', 'A moved it');
      // B never held it; the id still says 2.0.0 and its old backend session: B moves it to the blue itself.
      const res = await fetch(b!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': c.transport.sessionId!, 'mcp-protocol-version': '2025-06-18' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'current', arguments: {} } }),
      });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.match(text, /sunny, 21°C \(v1\)/);
      assert.deepEqual(routers[1]!.sessionCounts(), { weather: { '1.0.0': 1 } });
    } finally {
      await c.client.close();
      await Promise.all(routers.map((x) => x.close(1000)));
      for (const v of views) v.stop();
    }
  });

  it('a session started on a version already rolled back, by a router that had not seen the rollback yet, moves once it does', async () => {
    const registry = await httpBlueGreenRegistry();
    // The router's view hears of changes only when the test refreshes it: the moment a change takes to reach a
    // router (a NOTIFY, a poll), held open.
    const lagging = new Proxy(registry.store, {
      get: (store, key) => {
        if (key === 'watch') return undefined;
        const v: unknown = Reflect.get(store, key, store);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(store) : v;
      },
    });
    const view = new LiveView(lagging, 3_600_000, 3_600_000);
    await view.start();
    const router = new HttpRouter(view, { ...DEFAULT_ROUTER_OPTIONS, port: 0 });
    const url = `http://127.0.0.1:${await router.listen()}/mcp/weather`;
    let c: Awaited<ReturnType<typeof connect>> | undefined;
    try {
      await registry.rollback('weather', '2.0.0', 'bad');
      const rolledBackAt = Math.max(...(await registry.get('weather')).server.history.filter((e) => e.kind === 'rollback').map((e) => e.timestamp));
      await until('the clock passed the rollback', () => Date.now() > rolledBackAt);
      c = await connect(url);
      assert.equal(await variantOf(c.client), 'v2', 'the router had not seen the rollback: the new session went to 2.0.0, after its rollback');
      await view.refresh();
      assert.equal(await variantOf(c.client), 'v1', 'once the router sees the rollback, the session moves to the blue');
      assert.deepEqual(router.sessionCounts(), { weather: { '1.0.0': 1 } });
    } finally {
      await c?.client.close();
      await router.close(1000);
      view.stop();
    }
  });

  it('what the new backend sends on its own right after a move reaches the client: the router holds that backend session\'s GET stream until the client opens its own again', async () => {
    // Each version logs "<tag> greets" 100 ms after a session is initialized, on the session's GET stream; the SDK
    // client opens its GET again a second after the move ended the old one (the `retry:` these servers send, the
    // SDK client's default without one).
    const env = (tag: string) => ({ TAG: tag, GREET_MS: '100', RETRY_MS: '1000' });
    const [v1, v2] = [await pollingServer(env('v1')), await pollingServer(env('v2'))];
    backends.push(v1, v2);
    r = await startRouter(async (reg) => {
      await reg.deploy('weather', { version: '1.0.0', transport: { type: 'http', url: v1.url, headers: {} } });
      await reg.deploy('weather', { version: '2.0.0', transport: { type: 'http', url: v2.url, headers: {} }, traffic: 100 });
    });
    const transport = new StreamableHTTPClientTransport(new URL(r.url('weather')));
    const client = new Client({ name: 'migration-test', version: '1.0.0' });
    const heard: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void heard.push(String(n.params.data)));
    await client.connect(transport);
    try {
      await until('the client listens on its GET stream', () => r!.router.openStreams() === 1);
      await r.registry.rollback('weather', '2.0.0', 'bad');
      await until('the blue greeted the moved session', () => heard.includes('v1 greets'));
      const echo = (await client.callTool({ name: 'echo', arguments: { text: 'x' } })) as { content: { text: string }[] };
      assert.equal(echo.content[0]!.text, 'v1 echo: x');
      assert.equal(heard.filter((h) => h === 'v1 greets').length, 1, 'heard once');
      await until('the client listens again, on the stream held for it', () => r!.router.openStreams() === 1);
    } finally {
      await client.close();
    }
  });
});
