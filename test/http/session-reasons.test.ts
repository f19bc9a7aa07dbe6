/**
 * Why the router ended a session, through a real router with stdio backends: the pin decision
 * (domain/pin-decision.ts) is the router's, its reason code is counted on /metrics
 * (`mcp_rollout_sessions_ended_total{server,version,reason}`), and the client's next 404 says why. Covers a
 * rollback, a promotion under `--on-promote move` (and `drain`, the default, keeping the session), a
 * backend process that dies, and an HTTP backend that forgot the session (it answers 404). These run with
 * `onRollback: '404'` (the router ends such sessions); live migration, the default, is test/http/live-migration.test.ts.
 */
import { strict as assert } from 'node:assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { HttpRouterOptions } from '../../src/router/http-router.js';
import type { Registry } from '../../src/registry/registry.js';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));
const stdio = { type: 'stdio' as const, command: process.execPath, args: [RAW], env: {} };
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

type Answer = { status: number; result?: unknown; error?: { code: number; message: string } };

/** A legacy session by raw HTTP: `call` sends one tools/call and reads the answer (JSON or SSE). */
async function openSession(url: string): Promise<(tool: string) => Promise<Answer>> {
  let seq = 0;
  const post = async (body: unknown, sid?: string): Promise<Response> =>
    fetch(url, { method: 'POST', headers: { ...HEADERS, ...(sid ? { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } : {}) }, body: JSON.stringify(body) });
  const read = async (res: Response): Promise<Answer> => {
    const text = await res.text();
    const sse = (res.headers.get('content-type') ?? '').includes('text/event-stream');
    const msg = sse ? (text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as { id?: unknown }).find((e) => e.id !== undefined) ?? {}) : (JSON.parse(text) as object);
    return { status: res.status, ...msg };
  };
  const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'reasons', version: '1' } } });
  const sid = init.headers.get('mcp-session-id') ?? undefined;
  assert.ok(sid && (await read(init)).result, 'initialize answered');
  assert.equal((await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, sid)).status, 202);
  return async (tool) => read(await post({ jsonrpc: '2.0', id: ++seq, method: 'tools/call', params: { name: tool, arguments: {} } }, sid));
}

/** The value of one series of the ended-sessions counter (0 when absent). */
async function ended(r: RouterHarness, version: string, reason: string): Promise<number> {
  const text = await (await fetch(`${r.base}/metrics`)).text();
  const m = new RegExp(`^mcp_rollout_sessions_ended_total\\{server="raw",version="${version.replace(/\./g, '\\.')}",reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** Polls until `cond` holds; fails naming `what` (a guard against hanging, not a timed assertion). */
async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 60_000; Date.now() < end; await sleep(50)) if (await cond()) return;
  assert.fail(`never happened: ${what}`);
}

describe('sessions ended by the router carry a reason code', () => {
  let r: RouterHarness | undefined;
  afterEach(async () => {
    await r?.close();
    r = undefined;
  });

  /** raw 1.0.0 blue; 2.0.0 with `traffic` percent. */
  const start = (traffic: number, opts: Partial<HttpRouterOptions> = {}) =>
    startRouter(async (reg: Registry) => {
      await reg.deploy('raw', { version: '1.0.0', transport: stdio });
      await reg.deploy('raw', { version: '2.0.0', transport: stdio, traffic });
    }, { onRollback: '404', ...opts });

  it('a rollback ends the pinned session: counted as VersionRolledBack, and the 404 says so', async () => {
    r = await start(100);
    const call = await openSession(r.url('raw'));
    assert.equal((await call('echo')).status, 200);
    await r.registry.rollback('raw', '2.0.0', 'bad');
    await until('the session ended', () => Object.keys(r!.router.sessionCounts()).length === 0);
    assert.equal(await ended(r, '2.0.0', 'VersionRolledBack'), 1);
    const after = await call('echo');
    assert.equal(after.status, 404);
    assert.equal(after.error?.message, 'Session not found: version 2.0.0 of "raw" was rolled back; initialize a new session');
  });

  it('a promotion with onPromote move ends the session of the old blue (PromotedAway); with drain, the default, it stays', async () => {
    r = await start(0, { onPromote: 'move' });
    const call = await openSession(r.url('raw'));
    assert.equal((await call('echo')).status, 200);
    await r.registry.promote('raw', '2.0.0');
    await until('the session ended', () => Object.keys(r!.router.sessionCounts()).length === 0);
    assert.equal(await ended(r, '1.0.0', 'PromotedAway'), 1);
    const after = await call('echo');
    assert.equal(after.status, 404);
    assert.equal(after.error?.message, 'Session not found: version 1.0.0 of "raw" is inactive: another version was promoted (--on-promote move); initialize a new session');
    await r.close();

    r = await start(0);
    const drained = await openSession(r.url('raw'));
    await r.registry.promote('raw', '2.0.0');
    await until('the router saw the promotion', () => r!.view.get('raw')!.versions.find((v) => v.version === '1.0.0')!.status === 'inactive');
    assert.equal((await drained('echo')).status, 200, 'the session stays on 1.0.0');
    assert.deepEqual(r.router.sessionCounts(), { raw: { '1.0.0': 1 } });
    assert.equal(await ended(r, '1.0.0', 'PromotedAway'), 0);
  });

  it('a session whose backend process dies ends: counted as BackendDied, and the 404 names the exit', async () => {
    r = await start(0);
    const call = await openSession(r.url('raw'));
    const crash = await call('crash');
    assert.match(crash.error?.message ?? '', /^server "raw" version 1\.0\.0 exited with code 7/);
    await until('the session ended', () => Object.keys(r!.router.sessionCounts()).length === 0);
    assert.equal(await ended(r, '1.0.0', 'BackendDied'), 1);
    const after = await call('echo');
    assert.equal(after.status, 404);
    assert.match(after.error?.message ?? '', /^Session not found: server "raw" version 1\.0\.0 exited with code 7.*; initialize a new session$/);
  });

  it('an HTTP backend that forgot the session (404): its 404 reaches the client, then the session ends as BackendSessionGone', async () => {
    // A scripted Streamable HTTP backend that gives session "b1" at initialize and, once `forgot`, answers 404.
    let forgot = false;
    const backend = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const m = (body ? JSON.parse(body) : {}) as { id?: number; method?: string };
        const json = { 'content-type': 'application/json' };
        if (m.method === 'initialize') {
          res.writeHead(200, { ...json, 'mcp-session-id': 'b1' }).end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'scripted', version: '1' } } }));
        } else if (m.id === undefined) res.writeHead(202).end();
        else if (forgot) res.writeHead(404, json).end(JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { code: -32001, message: 'Session not found' } }));
        else res.writeHead(200, json).end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { content: [] } }));
      });
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/mcp`;
      r = await startRouter(async (reg: Registry) => void (await reg.deploy('raw', { version: '1.0.0', transport: { type: 'http', url, headers: {} } })), { onRollback: '404' });
      const call = await openSession(r.url('raw'));
      assert.equal((await call('echo')).status, 200);
      forgot = true;
      const gone = await call('echo');
      assert.equal(gone.status, 404);
      assert.equal(gone.error?.message, 'Session not found', 'the backend\'s own 404 is passed on');
      assert.equal(await ended(r, '1.0.0', 'BackendSessionGone'), 1);
      assert.deepEqual(r.router.sessionCounts(), {});
      const after = await call('echo');
      assert.equal(after.status, 404);
      assert.equal(after.error?.message, 'Session not found: server "raw" version 1.0.0 no longer knows the session (its backend restarted); initialize a new session');
    } finally {
      await r?.close();
      r = undefined;
      backend.closeAllConnections();
      await new Promise((resolve) => backend.close(resolve));
    }
  });
});
