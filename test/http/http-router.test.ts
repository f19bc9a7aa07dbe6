/**
 * The HTTP router with real backends (server-everything over Streamable HTTP, two versions told apart by an
 * env var) and the official SDK client: split by weight, pinning, live traffic changes, rollback -> 404,
 * security checks, unreachable backends, metrics.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { seededDraws } from '../../src/domain/weighted-choice.js';
import { DEFAULT_ROUTER_OPTIONS, HttpRouter } from '../../src/router/http-router.js';
import { LiveView } from '../../src/registry/live-view.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { freePort, startEverything, type RunningBackend } from '../helpers/everything-http.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

describe('HTTP router', () => {
  let p: TempProject;
  let registry: Registry;
  let view: LiveView;
  let router: HttpRouter;
  let base: string;
  const backends: RunningBackend[] = [];

  before(async () => {
    p = await tempProject();
    registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    backends.push(await startEverything({ MCP_ROLLOUT_TAG: 'one' }), await startEverything({ MCP_ROLLOUT_TAG: 'two' }));
    await registry.deploy('everything', { version: '1.0.0', transport: { type: 'http', url: backends[0]!.url, headers: {} } });
    await registry.deploy('everything', { version: '2.0.0', transport: { type: 'http', url: backends[1]!.url, headers: {} }, traffic: 20 });
    view = new LiveView(registry.store, 100);
    await view.start();
    router = new HttpRouter(view, { ...DEFAULT_ROUTER_OPTIONS, port: 0, onRollback: '404' }, Date.now, seededDraws(2026));
    base = `http://127.0.0.1:${await router.listen()}`;
  });
  after(async () => {
    await router.close(1000);
    view.stop();
    await Promise.all(backends.map((b) => b.stop()));
    await p.cleanup();
  });

  async function connect(): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp/everything`));
    const client = new Client({ name: 'router-test', version: '1.0.0' });
    await client.connect(transport);
    return { client, transport };
  }
  /** Which backend answered: server-everything's get-env tool shows our tag. */
  async function tagOf(client: Client): Promise<string> {
    const r = await client.callTool({ name: 'get-env', arguments: {} });
    const text = (r.content as { type: string; text: string }[])[0]!.text;
    return (JSON.parse(text) as Record<string, string>).MCP_ROLLOUT_TAG!;
  }
  async function waitFor(what: string, test: () => boolean): Promise<void> {
    for (let i = 0; i < 100 && !test(); i++) await sleep(50);
    assert.ok(test(), `gave up waiting for ${what}`);
  }

  it('splits 200 sessions 80/20 and keeps each session on its version', async () => {
    const tags: string[] = [];
    for (let i = 0; i < 200; i++) {
      const { client } = await connect();
      const tag = await tagOf(client);
      if (i % 20 === 0) {
        // Pinned: every later request of the session reaches the same backend.
        for (let k = 0; k < 3; k++) assert.equal(await tagOf(client), tag);
      }
      tags.push(tag);
      await client.close();
    }
    const two = tags.filter((t) => t === 'two').length;
    assert.ok(two >= 30 && two <= 50, `2.0.0 got ${two} of 200 sessions, expected 40 +/- 10`);
  });

  it('a traffic change reaches the running router: new sessions follow, open ones stay (drain)', async () => {
    const { client: old } = await connect();
    const oldTag = await tagOf(old);
    await registry.setTraffic('everything', '2.0.0', 100);
    await waitFor('the new weights', () => view.get('everything')!.versions.find((v) => v.version === '2.0.0')!.trafficPercentage === 100);
    for (let i = 0; i < 10; i++) {
      const { client } = await connect();
      assert.equal(await tagOf(client), 'two');
      await client.close();
    }
    assert.equal(await tagOf(old), oldTag, 'the open session stayed on its version');
    await old.close();
  });

  it('after a rollback a pinned session gets 404 and new sessions avoid the bad version', async () => {
    const { client } = await connect();
    assert.equal(await tagOf(client), 'two');
    await registry.rollback('everything', '2.0.0', 'bad');
    await waitFor('the rollback', () => view.get('everything')!.versions.find((v) => v.version === '2.0.0')!.status === 'inactive');
    await assert.rejects(tagOf(client), /404|Session not found/);
    for (let i = 0; i < 10; i++) {
      const c = await connect();
      assert.equal(await tagOf(c.client), 'one');
      await c.client.close();
    }
  });

  it('DELETE ends a session; a forged or unknown session id gets 404', async () => {
    const { client, transport } = await connect();
    const sid = transport.sessionId!;
    await transport.terminateSession();
    const after = await fetch(`${base}/mcp/everything`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'tools/list' }),
    });
    assert.equal(after.status, 404);
    assert.deepEqual(await after.json(), { jsonrpc: '2.0', id: 0, error: { code: -32001, message: 'Session not found: initialize a new session' } });
    const forged = await fetch(`${base}/mcp/everything`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': `${sid.slice(0, -2)}xx` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'a', method: 'tools/list' }),
    });
    assert.equal(forged.status, 404);
    await client.close();
  });

  it('refuses a foreign Origin and a rebinding Host with 403; answers health and metrics', async () => {
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    const foreign = await fetch(`${base}/mcp/everything`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: init });
    assert.equal(foreign.status, 403);
    assert.match(await foreign.text(), /Origin "https:\/\/evil.example" is not allowed/);
    const port = new URL(base).port;
    const rebound = await new Promise<number>((resolve, reject) => {
      import('node:http').then(({ request }) => {
        const r = request({ host: '127.0.0.1', port, path: '/mcp/everything', method: 'POST', headers: { host: `attacker.example:${port}`, 'content-type': 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        r.on('error', reject);
        r.end(init);
      }, reject);
    });
    assert.equal(rebound, 403);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /mcp_rollout_requests_total\{server="everything",version="1\.0\.0",method="tools\/call"\} \d+/);
    assert.match(metrics, /mcp_rollout_sessions_total\{server="everything",version="2\.0\.0"\} \d+/);
    assert.match(metrics, /mcp_rollout_request_duration_seconds_bucket\{server="everything",version="1\.0\.0",le="\+Inf"\} \d+/);
  });

  it('an unreachable backend gives an immediate JSON-RPC error naming server and version', async () => {
    const dead = await freePort();
    await registry.deploy('ghost', { version: '1.0.0', transport: { type: 'http', url: `http://127.0.0.1:${dead}/mcp`, headers: {} } });
    await waitFor('the new server', () => view.get('ghost') !== undefined);
    const client = new Client({ name: 'router-test', version: '1.0.0' });
    await assert.rejects(client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp/ghost`))), /server "ghost" version 1\.0\.0 is unreachable/);
    const unknown = await fetch(`${base}/mcp/nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(unknown.status, 404);
    assert.match(await unknown.text(), /unknown server \\"nope\\"/);
    const garbage = await fetch(`${base}/mcp/everything`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    assert.equal(garbage.status, 400);
    assert.equal(((await garbage.json()) as { error: { code: number } }).error.code, -32700);
    const empty = await fetch(`${base}/mcp/everything`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' });
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as { error: { code: number } }).error.code, -32600);
  });
});
