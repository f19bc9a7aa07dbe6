/**
 * The stdio proxy where sessions end badly or move: the client leaving while an old backend still works, a
 * request finishing (or being cancelled) on the old backend after a move, a server request answered after
 * the move, batches, a slow start, a backend that ignores EOF and SIGTERM or crashes leaving a child,
 * http/sse backends unreachable or dying mid-call, messages over the size limit either way, a client whose
 * stdout is gone, an empty batch. Real backend processes; the proxy in this process.
 */
import { strict as assert } from 'node:assert';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Transport } from '../../src/domain/types.js';
import { Registry } from '../../src/registry/registry.js';
import { freePort, startEverything } from '../helpers/everything-http.js';
import { pidAlive, waitGone } from '../helpers/processes.js';
import { endAll, proxyHarness, type Msg, type ProxyHarness } from '../helpers/proxy-harness.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));
const raw = (tag: string, mode = 'normal'): Transport => ({ type: 'stdio', command: process.execPath, args: [RAW, mode], env: { TAG: tag } });
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: { roots: {} }, clientInfo: { name: 't', version: '1' } } };

type Harness = ProxyHarness;

/** Pids of the current backend process and of its `sleep` grandchild (raw-server's `pids` tool). */
async function pids(h: Harness, id: number): Promise<{ pid: number; grandchild?: number }> {
  h.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'pids' } });
  const r = await h.answer();
  assert.equal(r.id, id);
  return JSON.parse((r.result!.content as { text: string }[])[0]!.text) as { pid: number; grandchild?: number };
}

const harness = proxyHarness;

async function handshake(h: Harness): Promise<void> {
  h.send(INIT);
  assert.equal((await h.next()).id, 0);
  h.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
}

describe('stdio proxy: sessions that end badly or move', () => {
  afterEach(async () => {
    await endAll();
  });

  it('the client leaving while the old backend still works on a request after a move: both backends end', async () => {
    const h = await harness(async (r) => {
      await r.deploy('s', { version: '1.0.0', transport: raw('blue') });
      await r.deploy('s', { version: '2.0.0', transport: raw('green'), traffic: 100 });
    });
    await handshake(h);
    const green = await pids(h, 1);
    h.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'hang' } });
    await h.registry.rollback('s', '2.0.0', 'bad');
    const blue = await waitForBackend(h, 'blue');
    assert.notEqual(blue.pid, green.pid);
    assert.ok(pidAlive(green.pid), 'the old backend still works on its request');
    await h.end();
    assert.equal(pidAlive(green.pid), false, 'the old backend ended with the session');
    assert.equal(pidAlive(blue.pid), false, 'the new backend ended with the session');
    assert.equal(h.view.listenerCount('change'), 0, 'the proxy stopped watching the registry');
  });

  it('a request in flight on the old backend when the session moves is answered by that backend', async () => {
    const h = await harness(async (r) => {
      await r.deploy('s', { version: '1.0.0', transport: raw('blue') });
      await r.deploy('s', { version: '2.0.0', transport: raw('green'), traffic: 100 });
    });
    await handshake(h);
    h.send({ jsonrpc: '2.0', id: 'slow', method: 'tools/call', params: { name: 'sleep', arguments: { ms: 1500 } } });
    await h.registry.rollback('s', '2.0.0', 'bad');
    await waitForBackend(h, 'blue');
    const r = await h.answer();
    assert.equal(r.id, 'slow');
    assert.deepEqual(r.result!.content, [{ type: 'text', text: 'slept (green)' }]);
  });

  it('cancelling a request that still runs on the old backend after a move: the cancellation goes there', async () => {
    const stderr: string[] = [];
    const h = await harness(
      async (r) => {
        await r.deploy('s', { version: '1.0.0', transport: raw('blue') });
        await r.deploy('s', { version: '2.0.0', transport: raw('green'), traffic: 100 });
      },
      { stderr: (c) => void stderr.push(c.toString()) },
    );
    await handshake(h);
    h.send({ jsonrpc: '2.0', id: 'slow', method: 'tools/call', params: { name: 'sleep', arguments: { ms: 3000 } } });
    await h.registry.rollback('s', '2.0.0', 'bad');
    await waitForBackend(h, 'blue');
    h.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'slow' } });
    for (let i = 0; i < 100 && !stderr.join('').includes('cancelled'); i++) await sleep(50);
    assert.match(stderr.join(''), /raw-server green: cancelled "slow"/);
    assert.doesNotMatch(stderr.join(''), /raw-server blue: cancelled/);
  });

  it('a version that refuses the replayed initialize does not serve the session; the next registry change moves it on', async () => {
    const h = await harness(async (r) => {
      await r.deploy('s', { version: '1.0.0', transport: raw('blue', 'refuse-init') });
      await r.deploy('s', { version: '2.0.0', transport: raw('green'), traffic: 100 });
    });
    await handshake(h);
    await h.registry.rollback('s', '2.0.0', 'bad');
    let e: Msg | undefined;
    for (let i = 0; i < 100; i++) {
      h.send({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'tag' } });
      const r = await h.answer();
      if (r.error) {
        e = r;
        break;
      }
      await sleep(50);
    }
    assert.match(e!.error!.message, /server "s" version 1\.0\.0 refused the replayed initialize: .*unsupported protocol version/);
    await h.registry.deploy('s', { version: '3.0.0', transport: raw('fixed'), traffic: 100 });
    await waitForBackend(h, 'fixed');
  });

  it('a batch passes as one line each way; its requests are tracked one by one', async () => {
    const h = await harness((r) => r.deploy('s', { version: '1.0.0', transport: raw('blue') }).then(() => undefined));
    h.send([INIT, { jsonrpc: '2.0', method: 'notifications/initialized' }, { jsonrpc: '2.0', id: 'b', method: 'tools/call', params: { name: 'tag' } }]);
    const line = await new Promise<string>((resolve) => h.output.once('data', (c: Buffer) => resolve(c.toString())));
    const batch = JSON.parse(line) as Msg[];
    assert.deepEqual(batch.map((m) => m.id), [0, 'b']);
    assert.deepEqual(batch[1]!.result!.content, [{ type: 'text', text: 'blue' }]);
    const [totals] = h.metrics.totals();
    assert.deepEqual(totals!.byMethod, { initialize: 1, 'tools/call': 1 });
  });

  it('a backend that starts slowly is waited for: the first request is answered, not failed', async () => {
    const h = await harness((r) => r.deploy('s', { version: '1.0.0', transport: raw('blue', 'slow-start') }).then(() => undefined), { requestTimeoutMs: 10_000 });
    h.send(INIT);
    const r = await h.next();
    assert.equal(r.id, 0);
    assert.equal((r.result!.serverInfo as { version: string }).version, 'blue');
  });

  it('a cancelled request gets no late deadline error; the next answer is the next request\'s', async () => {
    const h = await harness((r) => r.deploy('s', { version: '1.0.0', transport: raw('blue') }).then(() => undefined), { requestTimeoutMs: 200 });
    await handshake(h);
    h.send({ jsonrpc: '2.0', id: 0, method: 'tools/call', params: { name: 'hang' } });
    h.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 0, reason: 'changed my mind' } });
    await sleep(500);
    h.send({ jsonrpc: '2.0', id: 'after', method: 'tools/call', params: { name: 'echo', arguments: { ok: 1 } } });
    const r = await h.next();
    assert.equal(r.id, 'after');
    assert.equal(r.error, undefined);
  });

  it('a server request answered after the session moved reaches the backend that asked', async () => {
    const h = await harness(async (r) => {
      await r.deploy('s', { version: '1.0.0', transport: raw('blue') });
      await r.deploy('s', { version: '2.0.0', transport: raw('green'), traffic: 100 });
    });
    await handshake(h);
    h.send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'ask' } });
    const ask = await h.next();
    assert.deepEqual(ask, { jsonrpc: '2.0', id: 'srv-green-1', method: 'roots/list' });
    await h.registry.rollback('s', '2.0.0', 'bad');
    await waitForBackend(h, 'blue');
    h.send({ jsonrpc: '2.0', id: 'srv-green-1', result: { roots: [{ uri: 'file:///answered' }] } });
    const r = await h.answer();
    assert.equal(r.id, 5);
    assert.match(JSON.stringify(r.result), /file:\/\/\/answered/);
  });

  it('the old and the new backend asking the client under the same id: each gets its own answer', async () => {
    const same = (tag: string): Transport => ({ type: 'stdio', command: process.execPath, args: [RAW], env: { TAG: tag, ASK_PREFIX: 'srv' } });
    const h = await harness(async (r) => {
      await r.deploy('s', { version: '1.0.0', transport: same('blue') });
      await r.deploy('s', { version: '2.0.0', transport: same('green'), traffic: 100 });
    });
    await handshake(h);
    h.send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'ask' } });
    assert.deepEqual(await h.next(), { jsonrpc: '2.0', id: 'srv-1', method: 'roots/list' });
    await h.registry.rollback('s', '2.0.0', 'bad');
    await waitForBackend(h, 'blue');
    h.send({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'ask' } });
    const second = await h.next();
    assert.equal(second.method, 'roots/list');
    assert.notEqual(second.id, 'srv-1', 'the new backend\'s request goes out under another id');
    h.send({ jsonrpc: '2.0', id: second.id, result: { roots: [{ uri: 'file:///for-blue' }] } });
    const six = await h.answer();
    assert.equal(six.id, 6);
    assert.match(JSON.stringify(six.result), /for-blue/);
    h.send({ jsonrpc: '2.0', id: 'srv-1', result: { roots: [{ uri: 'file:///for-green' }] } });
    const five = await h.answer();
    assert.equal(five.id, 5);
    assert.match(JSON.stringify(five.result), /for-green/);
  });

  it('after a promotion the old backend stays warm: a rollback in the window returns the session to that very process', async () => {
    const h = await harness(
      async (r) => {
        await r.deploy('s', { version: '1.0.0', transport: raw('blue') });
        await r.deploy('s', { version: '2.0.0', transport: raw('green'), traffic: 0 });
      },
      { rollbackWindowMs: 60_000 },
    );
    await handshake(h);
    const blue = await pids(h, 1);
    await h.registry.promote('s', '2.0.0');
    const green = await waitForBackend(h, 'green');
    assert.notEqual(green.pid, blue.pid);
    assert.ok(pidAlive(blue.pid), 'the old blue runs on for the rollback window');
    await h.registry.rollback('s', '2.0.0', 'bad');
    const back = await waitForBackend(h, 'blue');
    assert.equal(back.pid, blue.pid, 'the session is back on the process it left, not a new one');
    assert.ok(await waitGone(green.pid, 5000), 'the rolled-back backend ends');
  });

  it('a promotion moves the session by default (counted as PromotedAway); with onPromote drain it stays on its very process', async () => {
    const setup = async (r: Registry): Promise<void> => {
      await r.deploy('s', { version: '1.0.0', transport: raw('blue') });
      await r.deploy('s', { version: '2.0.0', transport: raw('green'), traffic: 0 });
    };
    const moved = await harness(setup, { rollbackWindowMs: 0 });
    await handshake(moved);
    await moved.registry.promote('s', '2.0.0');
    await waitForBackend(moved, 'green');
    assert.match(moved.metrics.prometheus(), /^mcp_rollout_sessions_ended_total\{server="s",version="1\.0\.0",reason="PromotedAway"\} 1$/m);
    await moved.end();

    const drained = await harness(setup, { onPromote: 'drain' });
    await handshake(drained);
    const blue = await pids(drained, 1);
    await drained.registry.promote('s', '2.0.0');
    // The proxy decides in the view's change event, before the view is seen to change here.
    for (let i = 0; drained.view.get('s')!.versions.find((v) => v.version === '1.0.0')!.status !== 'inactive'; i++) {
      assert.ok(i < 1200, 'the view never saw the promotion');
      await sleep(50);
    }
    assert.equal((await pids(drained, 2)).pid, blue.pid, 'the session stays on the old blue\'s process');
    assert.doesNotMatch(drained.metrics.prometheus(), /sessions_ended_total\{/);
  });

  it('the kept backend ends when the rollback window closes', async () => {
    const h = await harness(
      async (r) => {
        await r.deploy('s', { version: '1.0.0', transport: raw('blue') });
        await r.deploy('s', { version: '2.0.0', transport: raw('green'), traffic: 0 });
      },
      { rollbackWindowMs: 500 },
    );
    await handshake(h);
    const blue = await pids(h, 1);
    await h.registry.promote('s', '2.0.0');
    await waitForBackend(h, 'green');
    assert.ok(await waitGone(blue.pid, 10_000), 'the old blue is stopped after the window');
    await h.registry.rollback('s', '2.0.0', 'bad');
    const back = await waitForBackend(h, 'blue');
    assert.notEqual(back.pid, blue.pid, 'a rollback after the window starts the old version afresh');
  });

  it('a backend that ignores EOF and SIGTERM is killed with its process group', async () => {
    const h = await harness((r) => r.deploy('s', { version: '1.0.0', transport: raw('blue', 'stubborn') }).then(() => undefined));
    await handshake(h);
    const { pid, grandchild } = await pids(h, 1);
    assert.ok(grandchild !== undefined && pidAlive(grandchild));
    await h.end();
    assert.equal(pidAlive(pid), false);
    assert.ok(await waitGone(grandchild, 5000), 'the grandchild in the backend\'s group is gone too');
  });

  it('a backend that crashes leaving a child in its group: the child is ended too', async () => {
    const h = await harness((r) => r.deploy('s', { version: '1.0.0', transport: raw('blue', 'stubborn') }).then(() => undefined), { maxRestartsPerMinute: 0 });
    await handshake(h);
    const { pid, grandchild } = await pids(h, 1);
    assert.ok(grandchild !== undefined && pidAlive(grandchild));
    h.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'crash' } });
    const e = await h.next();
    assert.equal(e.id, 2);
    assert.match(e.error!.message, /exited with code 7/);
    assert.equal(pidAlive(pid), false);
    assert.ok(await waitGone(grandchild, 5000), 'the crashed backend\'s grandchild is gone');
  });

  it('the client\'s output failing (its reader gone) ends the session and the backend', async () => {
    const h = await harness((r) => r.deploy('s', { version: '1.0.0', transport: raw('blue') }).then(() => undefined));
    await handshake(h);
    const { pid } = await pids(h, 1);
    h.output.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    await h.running;
    assert.equal(pidAlive(pid), false);
  });

  it('stop() ends a session whose client never closed its input', async () => {
    const h = await harness((r) => r.deploy('s', { version: '1.0.0', transport: raw('blue') }).then(() => undefined));
    await handshake(h);
    const { pid } = await pids(h, 1);
    await h.proxy.stop();
    await h.running;
    assert.equal(pidAlive(pid), false);
  });

  it('http and sse versions that cannot be reached: the request gets an error naming server and version', async () => {
    const port = await freePort(); // nothing listens there
    for (const type of ['http', 'sse'] as const) {
      const h = await harness((r) => r.deploy('s', { version: '3.1.0', transport: { type, url: `http://127.0.0.1:${port}/mcp`, headers: {} } }).then(() => undefined));
      h.send(INIT);
      const e = await h.next();
      assert.equal(e.id, 0, type);
      assert.equal(e.error?.code, -32603, type);
      assert.match(e.error!.message, /server "s" version 3\.1\.0/, type);
    }
  });

  it('messages over the size limit: each side\'s waiting party gets an error under the right id at once', async () => {
    const h = await harness((r) => r.deploy('s', { version: '1.0.0', transport: raw('blue') }).then(() => undefined), { maxMessageBytes: 4096, requestTimeoutMs: 300_000 });
    await handshake(h);
    // The backend's answer is too large: that request fails now, not at its deadline.
    h.send({ jsonrpc: '2.0', id: 'big', method: 'tools/call', params: { name: 'big', arguments: { bytes: 10_000 } } });
    const big = await h.next();
    assert.equal(big.id, 'big');
    assert.equal(big.error?.code, -32603);
    assert.match(big.error!.message, /server "s" version 1\.0\.0 sent an answer of \d+ bytes, over the limit of 4096/);
    // The client's request is too large: -32600 under its own id.
    h.send({ jsonrpc: '2.0', id: 0, method: 'tools/call', params: { name: 'echo', arguments: { pad: 'y'.repeat(5000) } } });
    const mine = await h.next();
    assert.equal(mine.id, 0);
    assert.equal(mine.error?.code, -32600);
    // The client's answer to a server request is too large: the server gets an error instead of waiting.
    h.send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'ask' } });
    const ask = await h.next();
    assert.equal(ask.method, 'roots/list');
    h.send({ jsonrpc: '2.0', id: ask.id, result: { roots: [{ uri: `file:///${'r'.repeat(5000)}` }] } });
    const answered = await h.next();
    assert.equal(answered.id, 7);
    assert.match(JSON.stringify(answered.result), /dropped by mcp-rollout proxy: message of \d+ bytes exceeds the limit of 4096/);
    assert.equal(h.proxy.backendNoise(), 0);
  });

  it('an http or sse backend that dies mid-call: the request in flight gets an error at once', async () => {
    for (const mode of ['streamableHttp', 'sse'] as const) {
      const backend = await startEverything({}, mode);
      try {
        const h = await harness((r) => r.deploy('s', { version: '4.0.0', transport: { type: mode === 'sse' ? 'sse' : 'http', url: backend.url, headers: {} } }).then(() => undefined), { maxRestartsPerMinute: 0 });
        h.send(INIT);
        assert.equal((await h.answer()).id, 0);
        h.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
        h.send({ jsonrpc: '2.0', id: 'long', method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 30, steps: 30 }, _meta: { progressToken: 1 } } });
        // Progress shows the call is running on the backend; then the backend dies.
        let m = await h.next();
        while (m.method !== 'notifications/progress') m = await h.next();
        backend.child.kill('SIGKILL');
        let e = await h.next();
        while (e.id !== 'long') e = await h.next();
        assert.equal(e.error?.code, -32603, mode);
        assert.match(e.error!.message, /server "s" version 4\.0\.0/, mode);
      } finally {
        // (stop() waits for an exit that has already happened once the child was killed)
        if (backend.child.exitCode === null && backend.child.signalCode === null) await backend.stop();
      }
    }
  });

  it('an empty batch is -32600; backend noise is counted', async () => {
    const h = await harness((r) => r.deploy('s', { version: '1.0.0', transport: raw('blue') }).then(() => undefined));
    await handshake(h);
    h.send('[]');
    const e = await h.next();
    assert.equal(e.id, null);
    assert.equal(e.error?.code, -32600);
    h.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'noise' } });
    assert.equal((await h.next()).id, 3);
    assert.equal(h.proxy.backendNoise(), 1);
  });
});

/** Asks for the current backend's pids until the session runs on `tag` (raw-server's serverInfo.version). */
async function waitForBackend(h: Harness, tag: string): Promise<{ pid: number }> {
  for (let i = 100; i < 200; i++) {
    h.send({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'tag' } });
    const r = await h.answer();
    if ((r.result?.content as { text: string }[] | undefined)?.[0]?.text === tag) return pids(h, 1000 + i);
    await sleep(50);
  }
  throw new Error(`the session never moved to ${tag}`);
}
