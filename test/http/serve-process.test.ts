/**
 * `mcp-rollout serve` as a real process: it announces itself, serves, and on SIGTERM lets an in-flight
 * request finish, withdraws, and exits 0. Killed outright, its lifeline ends every stdio backend it ran.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { pidAlive, waitGone } from '../helpers/processes.js';
import { freePort, startEverything, type RunningBackend } from '../helpers/everything-http.js';
import { BIN_DIR } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));

/** Starts `mcp-rollout serve` on a free port in `cwd`; resolves once it listens. */
async function startServe(cwd: string, env: NodeJS.ProcessEnv) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(BIN_DIR, 'mcp-rollout.js'), 'serve', '--port', String(port)], { cwd, env });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  for (let i = 0; i < 100 && !out.includes('listening'); i++) await new Promise((r) => setTimeout(r, 50));
  return { port, child, exited, out: () => out };
}

describe('mcp-rollout serve process', () => {
  let p: TempProject;
  let backend: RunningBackend;
  before(async () => {
    p = await tempProject();
    backend = await startEverything();
    await new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env })).deploy('everything', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } });
  });
  after(async () => {
    await backend.stop();
    await p.cleanup();
  });

  it('SIGTERM drains: the in-flight request completes, the router withdraws and exits 0', async () => {
    const { port, child, exited, out } = await startServe(p.dir, p.env);
    assert.match(out(), new RegExp(`listening on http://127\\.0\\.0\\.1:${port}/mcp/<name> \\(everything\\)`));
    assert.deepEqual(await readdir(join(p.dir, '.mcp-rollout', 'routers')), [`${child.pid}.json`]);

    const client = new Client({ name: 'drain-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/everything`)));
    const slow = client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } });
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGTERM');
    const result = await slow;
    assert.match(JSON.stringify(result.content), /Long running operation completed/i);
    assert.equal(await exited, 0);
    assert.match(out(), /stopped/);
    assert.deepEqual(await readdir(join(p.dir, '.mcp-rollout', 'routers')), []);
    await client.close();
  });

  it('SIGKILL: the lifeline ends every stdio backend (session and pooled), stubborn ones and their children included', async () => {
    await new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env })).deploy('stubborn', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW, 'stubborn'], env: {} } });
    const serve = await startServe(p.dir, p.env);
    assert.match(serve.out(), /listening/);
    const url = `http://127.0.0.1:${serve.port}/mcp/stubborn`;
    const pids: number[] = [];
    const pidsOf = (content: { text: string }[]) => {
      const found = JSON.parse(content[0]!.text) as { pid: number; grandchild: number };
      pids.push(found.pid, found.grandchild);
    };
    // Two legacy sessions (a process each) and one stateless request (the version's pooled process).
    for (let i = 0; i < 2; i++) {
      const client = new Client({ name: 'kill-test', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      pidsOf((await client.callTool({ name: 'pids' })).content as { text: string }[]);
    }
    const modern = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'pids' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'pids', _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } }),
    });
    pidsOf(((await modern.json()) as { result: { content: { text: string }[] } }).result.content);
    assert.equal(new Set(pids).size, 6);
    for (const pid of pids) assert.ok(pidAlive(pid), `backend process ${pid} runs`);

    serve.child.kill('SIGKILL');
    await serve.exited;
    for (const pid of pids) assert.ok(await waitGone(pid, 10_000), `backend process ${pid} is gone`);
  });
});
