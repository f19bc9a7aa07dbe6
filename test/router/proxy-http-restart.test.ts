/**
 * An HTTP version's backend restarted under a live session of `mcp-rollout proxy`: the backend answers 404 to the
 * session's id, and the proxy moves the session live (replayed initialize, list_changed) instead of failing every
 * request. The official SDK client over stdio, the real CLI process, the example weather server over
 * Streamable HTTP restarted on its port.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { startEverything } from '../helpers/everything-http.js';
import { BIN_DIR } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';
import { weatherHttp, type Weather } from '../helpers/weather-http.js';

const text = (r: Record<string, unknown>): string => (r.content as { text: string }[])[0]!.text;

describe('mcp-rollout proxy: an HTTP backend restarted under a live session', () => {
  let p: TempProject;
  let backend: Weather;
  before(async () => {
    p = await tempProject();
    backend = await weatherHttp('v1');
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('weather', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } });
  });
  after(async () => {
    await backend.stop();
    await p.cleanup();
  });

  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  });

  async function connect(): Promise<{ client: Client; stderr: () => string }> {
    const transport = new StdioClientTransport({ command: process.execPath, args: [join(BIN_DIR, 'mcp-rollout.js'), 'proxy', 'weather'], cwd: p.dir, env: p.env as Record<string, string>, stderr: 'pipe' });
    let err = '';
    transport.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const client = new Client({ name: 'restart-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(transport);
    return { client, stderr: () => err };
  }

  it('the next call after the restart is answered on a new backend session; a call while it is down gets an error naming server and version', async () => {
    const { client, stderr } = await connect();
    assert.equal(text(await client.callTool({ name: 'current', arguments: {} })), 'sunny, 21°C (v1)');

    await backend.stop();
    await assert.rejects(client.callTool({ name: 'current', arguments: {} }), /server "weather" version 1\.0\.0 failed: .*ECONNREFUSED/);
    backend = await weatherHttp('v1', backend.port);
    assert.equal(text(await client.callTool({ name: 'current', arguments: {} })), 'sunny, 21°C (v1)');
    assert.match(stderr(), /server "weather" version 1\.0\.0 no longer knows the session .*: the session now uses version 1\.0\.0/);
    // The session goes on as before on its new backend session.
    assert.equal(text(await client.callTool({ name: 'forecast', arguments: { city: 'Oslo' } })), 'Oslo: sunny for 3 days (v1)');
  });

  it('a backend that comes back with other tools: the client is told its tool list changed and sees the new one', async () => {
    const { client } = await connect();
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['current', 'forecast']);
    const changed = new Promise<void>((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()));

    await backend.stop();
    backend = await weatherHttp('v2', backend.port);
    assert.equal(text(await client.callTool({ name: 'current', arguments: {} })), 'sunny, 21°C (v2)');
    await changed;
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['current', 'forecast', 'alerts']);
  });

  it('server-everything, which answers a session it does not know with 400 (as the SDK example servers do), is reopened the same way', async () => {
    let everything = await startEverything();
    try {
      const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
      await registry.deploy('everything', { version: '1.0.0', transport: { type: 'http', url: everything.url, headers: {} } });
      const transport = new StdioClientTransport({ command: process.execPath, args: [join(BIN_DIR, 'mcp-rollout.js'), 'proxy', 'everything'], cwd: p.dir, env: p.env as Record<string, string>, stderr: 'pipe' });
      let err = '';
      transport.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const client = new Client({ name: 'restart-test', version: '1.0.0' });
      clients.push(client);
      await client.connect(transport);
      assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'before' } })), 'Echo: before');

      const port = Number(new URL(everything.url).port);
      await everything.stop();
      everything = await startEverything({}, 'streamableHttp', port);
      // Before: every later call failed with "answered HTTP 400: ... No valid session ID provided".
      assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'after' } })), 'Echo: after');
      assert.match(err, /server "everything" version 1\.0\.0 no longer knows the session .*: the session now uses version 1\.0\.0/);
    } finally {
      await everything.stop();
    }
  });
});
