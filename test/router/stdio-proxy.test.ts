/**
 * The stdio proxy's mechanics, with real backend processes (a raw fixture server that misbehaves on request,
 * and the example server) and the proxy in this process, spoken to line by line.
 */
import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Transport } from '../../src/domain/types.js';
import { seededDraws } from '../../src/domain/weighted-choice.js';
import { LiveView } from '../../src/registry/live-view.js';
import { DEFAULT_PROXY_OPTIONS, StdioProxy } from '../../src/router/stdio-proxy.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { VersionMetrics } from '../../src/telemetry/version-metrics.js';
import { Registry } from '../../src/registry/registry.js';
import { startEverything } from '../helpers/everything-http.js';
import { endAll, proxyHarness } from '../helpers/proxy-harness.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));
const WEATHER = fileURLToPath(new URL('../../../examples/weather-server.mjs', import.meta.url));
const raw = (mode = 'normal', env: Record<string, string> = {}): Transport => ({ type: 'stdio', command: process.execPath, args: [RAW, mode], env });
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };

const session = proxyHarness;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('stdio proxy', () => {
  afterEach(async () => {
    await endAll();
  });
  after(() => undefined);

  it('passes messages both ways with ids exactly as sent (0, strings, unknown methods)', async () => {
    const s = await session((r) => r.deploy('s', { version: '1.0.0', transport: raw() }).then(() => undefined));
    s.send(INIT);
    assert.deepEqual((await s.next()).id, 0);
    s.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    s.send({ jsonrpc: '2.0', id: 'abc-1', method: 'tools/call', params: { name: 'echo', arguments: { x: 1 } } });
    const r = await s.next();
    assert.equal(r.id, 'abc-1');
    assert.deepEqual(r.result, { content: [{ type: 'text', text: '{"x":1}' }] });
    s.send({ jsonrpc: '2.0', id: 7, method: 'vendor/future-method', params: {} });
    assert.deepEqual(await s.next(), { jsonrpc: '2.0', id: 7, result: { echoed: 'vendor/future-method' } });
  });

  it('answers a non-JSON line with -32700 and an oversized one with -32600, and keeps serving', async () => {
    const s = await session((r) => r.deploy('s', { version: '1.0.0', transport: raw() }).then(() => undefined), { maxMessageBytes: 2048 });
    s.send('this is {not json');
    const e = await s.next();
    assert.equal(e.id, null);
    assert.equal(e.error?.code, -32700);
    s.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x', params: { pad: 'y'.repeat(5000) } }));
    const big = await s.next();
    assert.equal(big.error?.code, -32600);
    assert.match(big.error!.message, /exceeds the limit of 2048/);
    s.send(INIT);
    assert.equal((await s.next()).id, 0);
  });

  it('drops and counts non-JSON noise on the backend stdout', async () => {
    const s = await session((r) => r.deploy('s', { version: '1.0.0', transport: raw() }).then(() => undefined));
    s.send(INIT);
    await s.next();
    s.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'noise', arguments: { a: 1 } } });
    assert.equal((await s.next()).id, 2);
  });

  it('a backend that dies mid-call: the pending request gets an error at once, naming server and version; the session moves on', async () => {
    const s = await session(async (r) => {
      await r.deploy('s', { version: '1.0.0', transport: raw() });
    });
    s.send(INIT);
    await s.next();
    s.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    s.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'crash' } });
    const e = await s.next();
    assert.equal(e.id, 3);
    assert.match(e.error!.message, /server "s" version 1\.0\.0 exited with code 7/);
    // A new backend took over (initialize replayed): later requests are served.
    await sleep(300);
    s.send({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'echo', arguments: { again: true } } });
    let r = await s.next();
    while (r.method !== undefined) r = await s.next(); // list_changed notices from the move
    assert.equal(r.id, 4);
    assert.equal(r.error, undefined);
  });

  it('a backend that never answers: the request deadline produces an error', async () => {
    const s = await session((r) => r.deploy('s', { version: '1.0.0', transport: raw() }).then(() => undefined), { requestTimeoutMs: 300 });
    s.send(INIT);
    await s.next();
    s.send({ jsonrpc: '2.0', id: 'h', method: 'tools/call', params: { name: 'hang' } });
    const e = await s.next();
    assert.equal(e.id, 'h');
    assert.match(e.error!.message, /server "s" version 1\.0\.0 did not answer tools\/call within 300 ms/);
  });

  it('a backend that cannot start: requests get an error with the cause; one that dies at start too', async () => {
    const a = await session((r) => r.deploy('s', { version: '1.0.0', transport: { type: 'stdio', command: '/nonexistent/server', args: [], env: {} } }).then(() => undefined));
    a.send(INIT);
    const e = await a.next();
    assert.equal(e.id, 0);
    assert.match(e.error!.message, /server "s" version 1\.0\.0 could not be started: cannot start \/nonexistent\/server: spawn \/nonexistent\/server ENOENT/);
    const b = await session((r) => r.deploy('s', { version: '2.0.0', transport: raw('exit-at-start') }).then(() => undefined), { maxRestartsPerMinute: 0 });
    await sleep(300);
    b.send(INIT);
    const e2 = await b.next();
    assert.match(e2.error!.message, /server "s" version 2\.0\.0 exited with code 2 \(stderr: raw-server: configuration missing\)/);
  });

  it('the client going away ends the backend process group', async () => {
    const s = await session((r) => r.deploy('s', { version: '1.0.0', transport: raw() }).then(() => undefined));
    s.send(INIT);
    const init = await s.next();
    assert.equal(init.id, 0);
    const pid = (s.proxy as unknown as { migration: { current: { upstream: { pid: number } } } }).migration.current.upstream.pid;
    assert.ok(pidAlive(pid));
    await s.end();
    assert.equal(pidAlive(pid), false);
  });

  it('500 sessions at 20% green land 20 +/- 5% on green (seeded draws, real backend processes)', async () => {
    let green = 0;
    // A one-line sed "server" per version answers initialize with its tag: a real process, cheap to start 500 times.
    const sed = (tag: string): Transport => ({
      type: 'stdio',
      command: 'sed',
      args: ['-u', `s/.*"id":\\([^,]*\\),.*/{"jsonrpc":"2.0","id":\\1,"result":{"serverInfo":{"version":"${tag}"}}}/`],
      env: {},
    });
    const registry = new Registry(new MemoryStore());
    await registry.deploy('s', { version: '1.0.0', transport: sed('blue') });
    await registry.deploy('s', { version: '2.0.0', transport: sed('green'), traffic: 20 });
    const view = new LiveView(registry.store, 60_000);
    await view.start();
    for (let batch = 0; batch < 50; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, k) => {
          const i = batch * 10 + k;
          const input = new PassThrough();
          const output = new PassThrough();
          const proxy = new StdioProxy('s', view, input, output, new VersionMetrics(), { ...DEFAULT_PROXY_OPTIONS, draw: seededDraws(i), stderr: () => undefined });
          const done = proxy.run();
          const line = new Promise<string>((resolve) => output.once('data', (c: Buffer) => resolve(c.toString())));
          input.write(`${JSON.stringify(INIT)}\n`);
          const answer = JSON.parse(await line) as { result: { serverInfo: { version: string } } };
          if (answer.result.serverInfo.version === 'green') green++;
          input.end();
          await done;
        }),
      );
    }
    view.stop();
    assert.ok(green >= 75 && green <= 125, `green got ${green} of 500 sessions (${green / 5}%)`);
  });

  it('http and sse versions are reached over Streamable HTTP and the legacy HTTP+SSE transport', async () => {
    for (const mode of ['streamableHttp', 'sse'] as const) {
      const backend = await startEverything({}, mode);
      try {
        const s = await session((r) => r.deploy('s', { version: '1.0.0', transport: { type: mode === 'sse' ? 'sse' : 'http', url: backend.url, headers: {} } }).then(() => undefined));
        s.send(INIT);
        const init = await s.next();
        assert.equal((init.result!.serverInfo as { name: string }).name, 'mcp-servers/everything', mode);
        s.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
        s.send({ jsonrpc: '2.0', id: 0, method: 'tools/call', params: { name: 'echo', arguments: { message: mode } } });
        let r = await s.next();
        while (r.id !== 0) r = await s.next(); // notifications the server sends after initialize
        assert.deepEqual(r.result!.content, [{ type: 'text', text: `Echo: ${mode}` }]);
        await s.end();
          } finally {
        await backend.stop();
      }
    }
  });

  it('live migration: after a rollback the session moves, replays initialize, announces changed lists', async () => {
    const weather = (variant: string): Transport => ({ type: 'stdio', command: process.execPath, args: [WEATHER, variant], env: {} });
    const s = await session(async (r) => {
      await r.deploy('s', { version: '1.0.0', transport: weather('v1') });
      await r.deploy('s', { version: '2.0.0', transport: weather('v2'), traffic: 100 });
    });
    s.send(INIT);
    assert.equal(((await s.next()).result!.serverInfo as { version: string }).version, 'v2');
    s.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    s.send({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    assert.deepEqual(((await s.next()).result!.tools as { name: string }[]).map((t) => t.name), ['current', 'forecast', 'alerts']);
    await s.registry.rollback('s', '2.0.0', 'bad');
    const notice = await s.next();
    assert.equal(notice.method, 'notifications/tools/list_changed');
    s.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.deepEqual(((await s.next()).result!.tools as { name: string }[]).map((t) => t.name), ['current', 'forecast']);
    s.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'current', arguments: {} } });
    assert.match(((await s.next()).result!.content as { text: string }[])[0]!.text, /\(v1\)/);
    const totals = s.metrics.totals().map((t) => `${t.version} sessions ${t.counters.sessionsStarted}`);
    assert.deepEqual(totals.sort(), ['1.0.0 sessions 1', '2.0.0 sessions 1']);
  });
});
