/**
 * The stateless 2026-07-28 revision over HTTP: the v2 SDK client pinned to it, through the router, to v2 SDK
 * servers on stdio (one pooled process per version) and over HTTP. A client stays on its version; a rollback
 * moves it; progress reaches the client that asked for it; a client that goes away cancels its request.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { HttpRouter } from '../../src/router/http-router.js';
import type { Registry } from '../../src/registry/registry.js';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

const MODERN = fileURLToPath(new URL('../../../test/fixtures/servers/modern-server.mjs', import.meta.url));

describe('2026-07-28 over HTTP through the router', () => {
  let r: RouterHarness;
  let registry: Registry;
  let router: HttpRouter;
  let url: URL;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modern-http-'));
    const v = (tag: string) => ({ type: 'stdio' as const, command: process.execPath, args: [MODERN], env: { TAG: tag, CANCEL_LOG: join(dir, 'cancelled') } });
    r = await startRouter(
      async (reg) => {
        await reg.deploy('modern', { version: '1.0.0', transport: v('one') });
        await reg.deploy('modern', { version: '2.0.0', transport: v('two'), traffic: 100 });
      },
      { rollbackWindowMs: 3000 },
    );
    ({ registry, router } = r);
    url = new URL(r.url('modern'));
  });
  after(async () => {
    await r.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a pinned modern client is served statelessly, stays on its version, and moves after a rollback', async () => {
    const client = new Client({ name: 'modern-http-test', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    try {
      await client.connect(new StreamableHTTPClientTransport(url));
      assert.equal(client.getProtocolEra(), 'modern');
      const text = async (): Promise<string> => ((await client.callTool({ name: 'echo', arguments: { text: 'hi' } })).content as { text: string }[])[0]!.text;
      for (let i = 0; i < 5; i++) assert.equal(await text(), 'two echo: hi');
      await registry.rollback('modern', '2.0.0', 'bad');
      let now = '';
      for (let i = 0; i < 40 && now !== 'one echo: hi'; i++) {
        await sleep(50);
        now = await text();
      }
      assert.equal(now, 'one echo: hi');
      assert.deepEqual(router.sessionCounts(), {}, 'no sessions in the stateless revision');
      // The rolled-back version's process stays warm for the rollback window, then it is stopped.
      assert.deepEqual(router.pooledVersions(), ['modern@1.0.0', 'modern@2.0.0']);
      for (let i = 0; i < 200 && router.pooledVersions().length > 1; i++) await sleep(50);
      assert.deepEqual(router.pooledVersions(), ['modern@1.0.0']);
    } finally {
      await client.close();
    }
  });

  it('progress reaches the client that asked for it, streamed before the answer, though clients reuse tokens', async () => {
    const pinned = () => new Client({ name: 'progress-test', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    const a = pinned();
    const b = pinned();
    try {
      await a.connect(new StreamableHTTPClientTransport(url));
      await b.connect(new StreamableHTTPClientTransport(url));
      const seen: Record<string, number[]> = { a: [], b: [] };
      const count = (c: Client, who: 'a' | 'b', n: number) =>
        c.callTool({ name: 'count', arguments: { n } }, { onprogress: (p) => seen[who]!.push(p.progress) });
      // Both clients' first call: the same JSON-RPC id and the same progress token, to one pooled process.
      const [ra, rb] = await Promise.all([count(a, 'a', 3), count(b, 'b', 5)]);
      assert.equal((ra.content as { text: string }[])[0]!.text, 'one counted 3');
      assert.equal((rb.content as { text: string }[])[0]!.text, 'one counted 5');
      assert.deepEqual(seen, { a: [1, 2, 3], b: [1, 2, 3, 4, 5] });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('subscriptions/listen: a listening client hears of a change another client makes, on its own stream', async () => {
    const pinned = (name: string) => new Client({ name, version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    const listener = pinned('listener');
    const changer = pinned('changer');
    try {
      await listener.connect(new StreamableHTTPClientTransport(url));
      await changer.connect(new StreamableHTTPClientTransport(url));
      let changes = 0;
      listener.setNotificationHandler('notifications/tools/list_changed', () => void changes++);
      const subscription = await listener.listen({ toolsListChanged: true });
      assert.deepEqual(subscription.honoredFilter, { toolsListChanged: true });
      assert.equal(((await changer.callTool({ name: 'grow', arguments: { name: 'sprout' } })).content as { text: string }[])[0]!.text, 'added sprout');
      for (let i = 0; i < 100 && changes === 0; i++) await sleep(20);
      assert.equal(changes, 1);
      await subscription.close();
      assert.equal(await subscription.closed, 'local');
      const metrics = r.router.metrics.prometheus();
      assert.doesNotMatch(metrics, /method="subscriptions\/listen"/, 'a listen stream is not a request to time');
      assert.match(metrics, /mcp_rollout_transport_failures_total\{server="modern",version="1\.0\.0"\} 0/);
    } finally {
      await listener.close();
      await changer.close();
    }
  });

  it('a client that goes away cancels its request at the backend', async () => {
    const gone = new AbortController();
    const call = fetch(url, {
      method: 'POST',
      signal: gone.signal,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'wait' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'wait', arguments: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
    });
    await sleep(300);
    gone.abort();
    await call.catch(() => undefined);
    let log = '';
    for (let i = 0; i < 100 && !log.includes('cancelled'); i++) {
      await sleep(50);
      log = await readFile(join(dir, 'cancelled'), 'utf8').catch(() => '');
    }
    assert.equal(log, 'cancelled one\n');
  });
});

describe('2026-07-28 through the router to a v2 SDK server over HTTP', () => {
  let backend: ChildProcess;
  let r: RouterHarness;
  let url: URL;
  before(async () => {
    backend = spawn(process.execPath, [MODERN, '--http'], { env: { ...process.env, TAG: 'web' }, stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<string>((resolve) => backend.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
    r = await startRouter((reg) => reg.deploy('web', { version: '1.0.0', transport: { type: 'http', url: `http://127.0.0.1:${port}/mcp`, headers: {} } }).then(() => undefined));
    url = new URL(r.url('web'));
  });
  after(async () => {
    await r.close();
    backend.kill('SIGTERM');
  });

  it('tool calls, streamed progress and an input_required round trip pass through unchanged', async () => {
    const client = new Client({ name: 'web-test', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } }, capabilities: { elicitation: {} } });
    client.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { ok: true } }));
    try {
      await client.connect(new StreamableHTTPClientTransport(url));
      assert.equal(client.getProtocolEra(), 'modern');
      assert.equal(((await client.callTool({ name: 'echo', arguments: { text: 'hi' } })).content as { text: string }[])[0]!.text, 'web echo: hi');
      const progress: number[] = [];
      const counted = await client.callTool({ name: 'count', arguments: { n: 4 } }, { onprogress: (p) => progress.push(p.progress) });
      assert.equal((counted.content as { text: string }[])[0]!.text, 'web counted 4');
      assert.deepEqual(progress, [1, 2, 3, 4]);
      const confirmed = await client.callTool({ name: 'confirm', arguments: { what: 'it' } });
      assert.equal((confirmed.content as { text: string }[])[0]!.text, 'web did it');
      assert.deepEqual(r.router.sessionCounts(), {}, 'stateless: no sessions');
    } finally {
      await client.close();
    }
  });
});
