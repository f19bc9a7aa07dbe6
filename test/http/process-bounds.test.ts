/**
 * Backend processes behind the router are bounded. A stdio version runs a process per legacy session; clients
 * that never send DELETE (MCP Inspector, CLIs) used to leave one each until --idle-timeout (30 min). Now:
 * at most --max-processes per version (the least recently used idle session gives way; a busy one never
 * does, and when every one is busy the new session gets 503), idle sessions end with their processes after
 * --process-idle-timeout, and a rolled-back version's session processes end the moment the router sees the
 * rollback. Processes are counted for real (the router's children in `ps`), beside the router's own gauge.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Registry } from '../../src/registry/registry.js';
import { pidAlive } from '../helpers/processes.js';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));
const stdio = { type: 'stdio' as const, command: process.execPath, args: [RAW], env: {} };
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** Pids of the raw-server processes this process (where the router runs) started and that still run. */
async function backendPids(): Promise<number[]> {
  const { stdout } = await promisify(execFile)('ps', ['--ppid', String(process.pid), '-o', 'pid=,args=']).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter((l) => l.includes(RAW)).map((l) => Number(l.trim().split(/\s+/)[0])).filter(pidAlive);
}

/** Polls `cond` until true; fails naming `what` if it never becomes true (a guard against hanging, not a time limit under test). */
async function until(what: string, cond: () => boolean | Promise<boolean>, guardMs = 60_000): Promise<void> {
  for (const end = Date.now() + guardMs; Date.now() < end; await sleep(50)) if (await cond()) return;
  assert.fail(`never happened: ${what}`);
}

/** The JSON-RPC answer in a response, JSON or SSE. */
async function answerOf(res: Response): Promise<{ result?: { content?: { text: string }[] }; error?: { code: number; message: string } }> {
  const text = await res.text();
  if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) return JSON.parse(text) as never;
  const events = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as { id?: unknown });
  return events.find((e) => e.id !== undefined) as never;
}

/** A legacy session by raw HTTP, as a client that never sends DELETE: initialize, initialized, then calls. */
class RawSession {
  private seq = 1;
  constructor(
    private readonly url: string,
    readonly sid: string,
  ) {}

  static async open(url: string): Promise<RawSession> {
    const init = await fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bounds', version: '1' } } }) });
    const sid = init.headers.get('mcp-session-id');
    const a = await answerOf(init);
    assert.ok(sid && a.result, `initialize answered: ${init.status} ${JSON.stringify(a)}`);
    const s = new RawSession(url, sid);
    assert.equal((await s.post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202);
    return s;
  }

  post(body: unknown, init: RequestInit = {}): Promise<Response> {
    return fetch(this.url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': this.sid, 'mcp-protocol-version': '2025-06-18' }, body: JSON.stringify(body), ...init });
  }

  /** Calls a tool; resolves with the whole answer. */
  async call(name: string): Promise<Awaited<ReturnType<typeof answerOf>> & { status: number }> {
    const res = await this.post({ jsonrpc: '2.0', id: ++this.seq, method: 'tools/call', params: { name, arguments: {} } });
    return { status: res.status, ...(await answerOf(res)) };
  }

  /** The pid of the session's backend process (the fixture's `pids` tool). */
  async pid(): Promise<number> {
    const a = await this.call('pids');
    return (JSON.parse(a.result!.content![0]!.text) as { pid: number }).pid;
  }
}

/** The router's gauge of backend processes for one version. */
async function gauge(base: string, server: string, version: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^mcp_rollout_backend_processes\\{server="${server}",version="${version.replace(/\./g, '\\.')}"\\} (-?\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('backend processes are bounded', () => {
  let r: RouterHarness | undefined;
  after(() => r?.close());

  it('50 sessions that never send DELETE, --max-processes 10: never more than 10 processes; the least recently used idle ones give way; a rollback ends the rest at once', async () => {
    r = await startRouter(
      async (reg: Registry) => {
        await reg.deploy('raw', { version: '1.0.0', transport: stdio });
        await reg.deploy('raw', { version: '2.0.0', transport: stdio, traffic: 100 });
      },
      { maxProcessesPerVersion: 10, onRollback: '404' },
    );
    const url = r.url('raw');
    const sessions: RawSession[] = [];
    const pids: number[] = [];
    let most = 0;
    for (let i = 0; i < 50; i++) {
      // The first session is used before each new one opens: least recently used it never is, oldest it stays.
      if (i > 1) assert.ok((await sessions[0]!.call('echo')).result, 'the first session is still served');
      const s = await RawSession.open(url);
      const running = (await backendPids()).length; // the new process runs; the one that gave way has exited
      most = Math.max(most, running);
      assert.ok(running <= 10, `session ${i}: ${running} backend processes`);
      sessions.push(s);
      pids.push(await s.pid());
    }
    assert.equal(most, 10);
    const kept = [0, ...Array.from({ length: 9 }, (_, k) => 41 + k)];
    assert.deepEqual((await backendPids()).sort(), kept.map((i) => pids[i]!).sort(), 'the first session and the 9 newest keep their processes');
    assert.equal(await gauge(r.base, 'raw', '2.0.0'), 10, 'the gauge agrees with ps');
    const totals = (await (await fetch(`${r.base}/telemetry/totals`)).json()) as { version: string; processes: number }[];
    assert.equal(totals.find((t) => t.version === '2.0.0')?.processes, 10, 'what mcp-status reads');

    const evicted = await sessions[1]!.call('echo');
    assert.equal(evicted.status, 404);
    assert.equal(evicted.error?.message, 'Session not found: server "raw" version 2.0.0 reached --max-processes 10 and this idle session was the least recently used: its backend process was ended; initialize a new session');

    // A rollback: the sessions' processes end when the router sees it, without a request from their clients.
    await r.registry.rollback('raw', '2.0.0', 'bad');
    await until('every 2.0.0 session process exited', async () => (await backendPids()).length === 0);
    // The gauge moves when the router has seen each exit, which under load can come a moment after ps stops
    // listing the process.
    await until('the gauge reads 0', async () => (await gauge(r!.base, 'raw', '2.0.0')) === 0);
    assert.deepEqual(r.router.sessionCounts(), {});
    const after = await sessions[49]!.call('echo');
    assert.equal(after.status, 404, 'the client still gets 404 and re-initialises');
    assert.match(after.error!.message, /^Session not found: version 2\.0\.0 of "raw" was rolled back; initialize a new session$/);
    const again = await RawSession.open(url);
    assert.equal((await again.call('tag')).status, 200, 'a new session goes to 1.0.0');
    assert.deepEqual(r.router.sessionCounts(), { raw: { '1.0.0': 1 } });
    await r.close();
    r = undefined;
  });

  it('a session with a request in flight or an open stream is never ended to make room: at the cap the new session gets 503 naming server, version and cap', async () => {
    r = await startRouter((reg) => reg.deploy('raw', { version: '1.0.0', transport: stdio }).then(() => undefined), { maxProcessesPerVersion: 2 });
    const url = r.url('raw');
    const working = await RawSession.open(url);
    const workingPid = await working.pid();
    const hang = new AbortController();
    // Its headers come once the router has the request open (an SSE stream, since no answer comes).
    const hanging = await working.post({ jsonrpc: '2.0', id: 'h', method: 'tools/call', params: { name: 'hang', arguments: {} } }, { signal: hang.signal });
    const pending = hanging.text().catch(() => 'aborted');
    const listening = await RawSession.open(url);
    const listeningPid = await listening.pid();
    const stream = new AbortController();
    const get = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': listening.sid, 'mcp-protocol-version': '2025-06-18' }, signal: stream.signal });
    assert.equal(get.status, 200, 'the GET stream is open');

    const refused = await fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }) });
    assert.equal(refused.status, 503);
    assert.deepEqual(await refused.json(), {
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32000, message: 'server "raw" version 1.0.0 runs 2 backend processes for sessions, the most allowed (--max-processes 2), and every one has a request in flight or an open stream; try again later' },
    });
    assert.deepEqual((await backendPids()).sort(), [workingPid, listeningPid].sort());

    // The listener goes away: its session is idle now, and gives way to the next one.
    stream.abort();
    let admitted: RawSession | undefined;
    await until('a new session is admitted', async () => {
      admitted = await RawSession.open(url).catch(() => undefined);
      return admitted !== undefined;
    });
    const pids = await backendPids();
    assert.equal(pids.length, 2);
    assert.ok(pids.includes(workingPid), 'the session with a request in flight kept its process');
    assert.ok(!pids.includes(listeningPid));
    assert.equal((await listening.call('echo')).status, 404);
    hang.abort();
    await pending;
    await r.close();
    r = undefined;
  });

  it('50 sessions that never send DELETE are all ended with their processes after --process-idle-timeout', async () => {
    r = await startRouter((reg) => reg.deploy('raw', { version: '1.0.0', transport: stdio }).then(() => undefined), { processIdleTimeoutMs: 1000 });
    const url = r.url('raw');
    const sessions: RawSession[] = [];
    const pids: number[] = [];
    for (let i = 0; i < 50; i++) {
      const s = await RawSession.open(url);
      sessions.push(s);
      pids.push(await s.pid());
    }
    await until('the gauge shows no backend process', async () => (await gauge(r!.base, 'raw', '1.0.0')) === 0);
    assert.deepEqual(await backendPids(), [], 'and ps agrees');
    assert.ok(pids.every((p) => !pidAlive(p)));
    assert.deepEqual(r.router.sessionCounts(), {});
    const late = await sessions[49]!.call('echo');
    assert.equal(late.status, 404);
    assert.equal(late.error?.message, 'Session not found: the session was idle for 1 s (--process-idle-timeout): its backend process was ended; initialize a new session');
    await r.close();
    r = undefined;
  });
});
