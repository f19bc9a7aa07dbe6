/**
 * SSE polling (MCP 2025-11-25) behind `mcp-rollout proxy`: an HTTP version whose backend (the SDK v1 server with
 * an event store, fixtures/servers/polling-http-server.mjs) closes a call's answer stream before the answer.
 * The proxy's upstream resumes the stream with GET and Last-Event-ID (after the backend's `retry:`), as often as
 * the backend closes it, and the SDK client over stdio gets the answer and the progress sent between polls.
 * The real CLI process.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { BIN_DIR } from '../helpers/run-cli.js';
import { pollingServer, type PollingServer } from '../helpers/polling-http.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const text = (r: unknown): string => (r as { content: { text: string }[] }).content[0]!.text;

describe('mcp-rollout proxy: an HTTP backend that answers by SSE polling', () => {
  let p: TempProject;
  let backend: PollingServer;
  let client: Client;
  before(async () => {
    p = await tempProject();
    backend = await pollingServer();
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('poll', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } });
    const transport = new StdioClientTransport({ command: process.execPath, args: [join(BIN_DIR, 'mcp-rollout.js'), 'proxy', 'poll'], cwd: p.dir, env: p.env as Record<string, string>, stderr: 'pipe' });
    client = new Client({ name: 'proxy-polling-test', version: '1.0.0' });
    await client.connect(transport);
  });
  after(async () => {
    await client.close();
    await backend.stop();
    await p.cleanup();
  });

  it('a call whose answer stream is closed twice before the answer is answered, with the progress sent between', async () => {
    const progress: number[] = [];
    const answer = await client.callTool({ name: 'wait', arguments: { polls: 2, ms: 50 } }, undefined, { onprogress: (x) => void progress.push(x.progress), timeout: 20_000 });
    assert.equal(text(answer), 'polling waited 2 x 50 ms');
    assert.deepEqual(progress, [1]);
    assert.equal(await backend.closes(), 2);
    // At least once: a close that comes before the proxy resumed (a loaded machine) closes nothing.
    assert.ok((await backend.resumes()) >= 1, 'the proxy resumed the answer stream');
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'after' } })), 'polling echo: after');
  });

  it('calls answered by polling and at once, in parallel, each get their own answer', async () => {
    const calls = await Promise.all([
      client.callTool({ name: 'wait', arguments: { polls: 1, ms: 30 } }),
      client.callTool({ name: 'echo', arguments: { text: 'a' } }),
      client.callTool({ name: 'wait', arguments: { polls: 3, ms: 10 } }),
      client.callTool({ name: 'echo', arguments: { text: 'b' } }),
    ]);
    assert.deepEqual(calls.map(text), ['polling waited 1 x 30 ms', 'polling echo: a', 'polling waited 3 x 10 ms', 'polling echo: b']);
  });
});
