/**
 * `mcp-rollout proxy` as a client launches it: the official SDK client over stdio, through the real CLI
 * process, to server-everything. Every feature crosses the proxy: tools, resources, prompts, progress,
 * sampling, elicitation, roots, logging, cancellation; and two versions are told apart by an env var.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { EVERYTHING } from '../helpers/everything-http.js';
import { BIN_DIR, runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

describe('mcp-rollout proxy with the SDK client and server-everything', () => {
  let p: TempProject;
  let registry: Registry;
  before(async () => {
    p = await tempProject();
    registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    const everything = (tag: string) => ({ type: 'stdio' as const, command: process.execPath, args: [EVERYTHING, 'stdio'], env: { MCP_ROLLOUT_TAG: tag } });
    await registry.deploy('everything', { version: '1.0.0', transport: everything('one') });
  });
  after(() => p.cleanup());


  const clients: Client[] = [];
  afterEach(async () => {
    // Closed even when a test fails, so no proxy outlives its test.
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  });

  async function connect(capabilities: Record<string, unknown> = {}): Promise<{ client: Client; transport: StdioClientTransport }> {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(BIN_DIR, 'mcp-rollout.js'), 'proxy', 'everything'],
      cwd: p.dir,
      env: p.env as Record<string, string>,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'proxy-test', version: '1.0.0' }, { capabilities });
    clients.push(client);
    await client.connect(transport);
    return { client, transport };
  }

  it('tools, resources, prompts and progress pass through unchanged', async () => {
    const { client } = await connect();
    assert.equal(client.getServerVersion()?.name, 'mcp-servers/everything');
    const tools = await client.listTools();
    assert.ok(tools.tools.some((t) => t.name === 'echo'));
    const echo = await client.callTool({ name: 'echo', arguments: { message: 'through the proxy' } });
    assert.deepEqual(echo.content, [{ type: 'text', text: 'Echo: through the proxy' }]);
    const resources = await client.listResources();
    const first = resources.resources[0]!;
    const read = await client.readResource({ uri: first.uri });
    assert.equal(read.contents[0]!.uri, first.uri);
    const prompts = await client.listPrompts();
    const simple = prompts.prompts.find((x) => (x.arguments ?? []).every((a) => !a.required))!;
    const got = await client.getPrompt({ name: simple.name });
    assert.ok(got.messages.length > 0);
    const progress: number[] = [];
    await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    // server-everything may send its last progress after the result; those before it arrive in order.
    assert.ok(progress.length >= 2, `progress: ${JSON.stringify(progress)}`);
    assert.deepEqual(progress, [1, 2, 3].slice(0, progress.length));
    await client.close();
  });

  it('server-to-client requests (sampling, elicitation, roots) and logging reach the client and back', async () => {
    const { client } = await connect({ sampling: {}, elicitation: {}, roots: { listChanged: true } });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'sampled by the test' }, model: 'test-model' }));
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
    let rootsAsked = 0;
    client.setRequestHandler(ListRootsRequestSchema, async () => {
      rootsAsked++;
      return { roots: [{ uri: 'file:///tmp/proxy-root', name: 'root' }] };
    });
    const logs: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => void logs.push(String(n.params.level)));
    const sampled = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 10 } });
    assert.match(JSON.stringify(sampled.content), /sampled by the test/);
    const elicited = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
    assert.match(JSON.stringify(elicited.content), /decline/i);
    const roots = await client.callTool({ name: 'get-roots-list', arguments: {} });
    assert.match(JSON.stringify(roots.content), /proxy-root/);
    assert.ok(rootsAsked >= 1);
    await client.setLoggingLevel('debug');
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    for (let i = 0; i < 60 && logs.length === 0; i++) await sleep(100);
    assert.ok(logs.length > 0, 'a log notification arrived');
    await client.close();
  });

  it('cancellation reaches the server; the proxy then answers nothing more for that request', async () => {
    const { client } = await connect();
    const ctl = new AbortController();
    const call = client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 5, steps: 5 } }, undefined, { signal: ctl.signal });
    await sleep(300);
    ctl.abort('changed my mind');
    await assert.rejects(call, /changed my mind|abort/i);
    // The session is healthy afterwards.
    const echo = await client.callTool({ name: 'echo', arguments: { message: 'still here' } });
    assert.deepEqual(echo.content, [{ type: 'text', text: 'Echo: still here' }]);
    await client.close();
  });

  it('closing the client ends the backend: no orphan process', async () => {
    const { client, transport } = await connect();
    const r = await client.callTool({ name: 'get-env', arguments: {} });
    const env = JSON.parse((r.content as { text: string }[])[0]!.text) as Record<string, string>;
    assert.equal(env.MCP_ROLLOUT_TAG, 'one');
    const proxyPid = transport.pid!;
    // The proxy's children: the backend, and the backend's lifeline (a small sh that ends its group if the
    // proxy is killed outright).
    const ps = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(proxyPid)]).toString().trim().split('\n');
    const children = ps.map((l) => l.trim().split(/\s+/)).map(([pid, comm]) => ({ pid: Number(pid), comm }));
    assert.deepEqual(children.map((c) => c.comm).sort(), ['node', 'sh']);
    await client.close();
    for (const c of children) {
      for (let i = 0; i < 50 && alive(c.pid); i++) await sleep(100);
      assert.equal(alive(c.pid), false, `the ${c.comm === 'sh' ? 'lifeline' : 'backend'} exited with its proxy`);
    }
    // The proxy's last telemetry is on disk.
    const dir = join(p.dir, '.mcp-rollout', 'telemetry');
    const files = (await readdir(dir)).filter((f) => f === `proxy-${proxyPid}.json`);
    assert.equal(files.length, 1);
    const t = JSON.parse(await readFile(join(dir, files[0]!), 'utf8')) as { series: { version: string; byMethod: Record<string, number> }[] };
    assert.equal(t.series[0]!.byMethod['tools/call'], 1);
    // mcp-status reads it: per version, sessions open now, requests, error rate, latency.
    const status = await runCli('status', ['everything', '--json'], { cwd: p.dir, env: p.env });
    const usage = status.json<{ servers: { versions: { usage: { sessions: number; requests: number; errorRate: number; p50Ms: number } }[] }[] }>().servers[0]!.versions[0]!.usage;
    assert.equal(usage.sessions, 0);
    assert.ok(usage.requests >= 8, `requests: ${usage.requests}`); // every session of this file, initialize included
    assert.equal(typeof usage.p50Ms, 'number');
    const human = await runCli('status', ['everything'], { cwd: p.dir, env: p.env });
    assert.match(human.stdout, /SESSIONS\s+REQUESTS\s+ERRORS\s+P50\s+P99/);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
