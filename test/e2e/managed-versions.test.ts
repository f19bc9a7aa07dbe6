/**
 * Managed versions end to end, with real processes: deployed through the CLI (validated on a private instance
 * that is gone when deploy returns), started by `mcp-rollout serve` before it listens, reached through the router
 * with the SDK client, shown by `mcp-status --json` (pid, port, memory), restarted when they die, and left
 * behind by nobody when serve is SIGKILLed.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EVERYTHING, freePort } from '../helpers/everything-http.js';
import { waitForOutput } from '../helpers/output.js';
import { pidsWith, waitGone } from '../helpers/processes.js';
import { BIN_DIR, runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const MODERN = fileURLToPath(new URL('../../../test/fixtures/servers/modern-server.mjs', import.meta.url));


/** Polls `probe` until it returns a value (not undefined) or `ms` pass; the deadline only bounds a failing test. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await sleep(100);
  }
}

interface Serve {
  child: ChildProcess;
  port: number;
  out: () => string;
}

/** `mcp-rollout serve` in `cwd`; resolves once it listens (it starts managed versions before that). */
async function startServe(p: TempProject, extra: string[] = []): Promise<Serve> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(BIN_DIR, 'mcp-rollout.js'), 'serve', '--port', String(port), ...extra], { cwd: p.dir, env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitForOutput(child, /listening on/);
  return { child, port, out: () => out };
}

async function stopServe(s: Serve): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const gone = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await gone;
}

type Managed = { state: string; pid?: number; port?: number; rssBytes?: number; cpuSeconds?: number; restarts: number };
async function managedOf(p: TempProject, server: string): Promise<Managed | undefined> {
  const r = await runCli('status', [server, '--json'], { cwd: p.dir, env: p.env });
  const s = r.json<{ servers: { versions: { usage: { managed?: Managed } | null }[] }[] }>();
  return s.servers[0]?.versions[0]?.usage?.managed;
}

async function callEcho(port: number, server: string, args: Record<string, string>): Promise<string> {
  const client = new Client({ name: 'managed-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/${server}`)));
  try {
    const r = await client.callTool({ name: 'echo', arguments: args });
    return (r.content as { text: string }[])[0]!.text;
  } finally {
    await client.close();
  }
}

describe('managed versions under mcp-rollout serve', () => {
  let p: TempProject;
  let q: TempProject;
  const serves: Serve[] = [];
  const everyToken = `ev-${randomUUID()}`;
  const modernToken = `mo-${randomUUID()}`;
  before(async () => {
    p = await tempProject();
    q = await tempProject();
  });
  after(async () => {
    for (const s of serves) await stopServe(s);
    for (const pid of [...pidsWith(everyToken), ...pidsWith(modernToken)]) process.kill(pid, 'SIGKILL');
    await p.cleanup();
    await q.cleanup();
  });

  it('deploy validates on a private instance that is gone afterwards; serve runs both, routes to them, status shows them, a killed one is restarted, and serve SIGKILLed leaves none', async () => {
    const smoke = join(p.dir, 'smoke.json');
    await writeFile(smoke, JSON.stringify({ calls: [{ tool: 'echo', arguments: { message: 'hi' }, expect: { isError: false } }] }));
    // server-everything reads PORT; the v2 SDK fixture takes {port} in its arguments. A token marks each one's processes.
    const ev = await runCli('deploy', ['everything', '1.0.0', '--type', 'http', '--command', process.execPath, '--port', 'auto', '--smoke', smoke, '--json', '--', EVERYTHING, 'streamableHttp', everyToken], { cwd: p.dir, env: p.env });
    assert.equal(ev.code, 0, ev.stdout + ev.stderr);
    assert.equal(ev.json<{ ok: boolean }>().ok, true);
    const mo = await runCli('deploy', ['modern', '1.0.0', '--type', 'http', '--command', process.execPath, '--port', 'auto', '--json', '--', MODERN, '--http', '--port', '{port}', modernToken], { cwd: p.dir, env: { ...p.env, TAG: 'managed-v2' } });
    assert.equal(mo.code, 0, mo.stdout + mo.stderr);
    // The private instances lived only for their validation.
    assert.deepEqual(pidsWith(everyToken), []);
    assert.deepEqual(pidsWith(modernToken), []);

    const serve = await startServe(p);
    serves.push(serve);
    // Started and ready before the router listened.
    assert.match(serve.out(), /everything@1\.0\.0: managed server ready at http:\/\/127\.0\.0\.1:\d+\/mcp[\s\S]*listening on/);
    assert.match(await callEcho(serve.port, 'everything', { message: 'through the router' }), /through the router/);
    assert.match(await callEcho(serve.port, 'modern', { text: 'to v2' }), /echo: to v2/);

    const evm = await managedOf(p, 'everything');
    const mom = await managedOf(p, 'modern');
    for (const [m, token] of [[evm, everyToken], [mom, modernToken]] as const) {
      assert.equal(m?.state, 'ready');
      assert.ok(m.pid !== undefined && pidsWith(token).includes(m.pid), `pid ${m.pid} runs the server`);
      assert.ok(m.port !== undefined && m.port > 0);
      assert.ok(m.rssBytes !== undefined && m.rssBytes > 1024 * 1024, `resident memory ${m.rssBytes}`);
      assert.equal(m.restarts, 0);
    }

    // A managed server that dies is started again (a new process), counted, recorded, and serves again.
    process.kill(mom!.pid!, 'SIGKILL');
    const again = await waitFor('the restarted modern server', async () => {
      const m = await managedOf(p, 'modern');
      return m?.state === 'ready' && m.pid !== mom!.pid ? m : undefined;
    });
    assert.equal(again.restarts, 1);
    assert.match(await callEcho(serve.port, 'modern', { text: 'after restart' }), /echo: after restart/);
    const history = await runCli('history', ['modern'], { cwd: p.dir, env: p.env });
    assert.match(history.stdout, /process restarted: was ended by SIGKILL/);
    const metrics = await (await fetch(`http://127.0.0.1:${serve.port}/metrics`)).text();
    assert.match(metrics, /mcp_rollout_managed_restarts\{server="modern",version="1.0.0"\} 1/);
    assert.match(metrics, /mcp_rollout_backend_crashes_total\{server="modern",version="1.0.0"\} 1/);
    assert.match(metrics, /mcp_rollout_managed_resident_memory_bytes\{server="everything",version="1.0.0"\} \d+/);

    // Killed outright: the lifeline ends both managed servers.
    const pids = [...pidsWith(everyToken), ...pidsWith(modernToken)];
    assert.equal(pids.length >= 2, true);
    serve.child.kill('SIGKILL');
    for (const pid of pids) assert.equal(await waitGone(pid, 15_000), true, `managed pid ${pid} outlived serve`);
  });

  it('a managed version that crashes on start is restarted with backoff, each restart counted and in its history, then held', async () => {
    const token = `crash-${randomUUID()}`;
    const d = await runCli('deploy', ['crashy', '1.0.0', '--type', 'http', '--command', process.execPath, '--port', 'auto', '--skip-validation', '--', '-e', `console.error('boom ${token}'); process.exit(3)`], { cwd: q.dir, env: q.env });
    assert.equal(d.code, 0, d.stderr);
    const serve = await startServe(q, ['--ready-timeout', '5s']);
    serves.push(serve);
    assert.match(serve.out(), /crashy@1\.0\.0: exited with code 3 before it was ready on port \d+; output: boom/);
    // Deaths at start, +1 s, +3 s: two restarts (1 s, then 2 s of backoff), and the third death holds restarts.
    const held = await waitFor('restarts held', async () => {
      const m = await managedOf(q, 'crashy');
      return m?.state === 'held' ? m : undefined;
    });
    assert.equal(held.restarts, 2);
    const metrics = await (await fetch(`http://127.0.0.1:${serve.port}/metrics`)).text();
    assert.match(metrics, /mcp_rollout_managed_restarts\{server="crashy",version="1.0.0"\} 2/);
    assert.match(metrics, /mcp_rollout_managed_up\{server="crashy",version="1.0.0"\} 0/);
    assert.match(metrics, /mcp_rollout_backend_crashes_total\{server="crashy",version="1.0.0"\} 3/);
    const history = await runCli('history', ['crashy'], { cwd: q.dir, env: q.env });
    assert.equal(history.stdout.match(/process restarted: exited with code 3/g)?.length, 2, history.stdout);
    assert.match(history.stdout, /process held: 3 deaths within 60 s/);
    // The router still serves, and says why this version cannot answer.
    const res = await fetch(`http://127.0.0.1:${serve.port}/mcp/crashy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    assert.match(await res.text(), /server \\?"crashy\\?" version 1\.0\.0 is a managed version whose server is not running \(held/);
    await stopServe(serve);
  });

  it('a promoted-away managed version is stopped once the rollback window has passed (no session left on it)', async () => {
    const r = await tempProject();
    try {
      const tokens = [`old-${randomUUID()}`, `new-${randomUUID()}`];
      for (const [i, v] of ['1.0.0', '1.1.0'].entries()) {
        const d = await runCli('deploy', ['modern', v, '--type', 'http', '--command', process.execPath, '--port', 'auto', '--skip-validation', '--', MODERN, '--http', '--port', '{port}', tokens[i]!], { cwd: r.dir, env: r.env });
        assert.equal(d.code, 0, d.stderr);
      }
      const serve = await startServe(r, ['--rollback-window', '1s']);
      serves.push(serve);
      const [oldPid] = pidsWith(tokens[0]!);
      assert.ok(oldPid !== undefined && pidsWith(tokens[1]!).length === 1, 'blue and green both started');
      const promoted = await runCli('promote', ['modern', '1.1.0'], { cwd: r.dir, env: r.env });
      assert.equal(promoted.code, 0, promoted.stderr);
      assert.equal(await waitGone(oldPid, 15_000), true, 'the old blue outlived the rollback window');
      assert.match(serve.out(), /modern@1\.0\.0: inactive for the rollback window and drained: stopping its server/);
      assert.equal(pidsWith(tokens[1]!).length, 1, 'the new blue runs on');
      await stopServe(serve);
      assert.deepEqual(pidsWith(tokens[1]!), [], 'serve stopped with SIGTERM stops its managed servers');
    } finally {
      await r.cleanup();
    }
  });
});
