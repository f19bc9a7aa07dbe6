/**
 * Versions that do not speak Streamable HTTP behind the HTTP router: a stdio version (a process per legacy
 * session) and a legacy HTTP+SSE version (an SSE connection per session), bridged to Streamable HTTP.
 * Responses, progress and the server's own requests (sampling) reach the client on the right stream.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernStreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { DEFAULT_ROUTER_OPTIONS, HttpRouter } from '../../src/router/http-router.js';
import { LiveView } from '../../src/registry/live-view.js';
import { Registry } from '../../src/registry/registry.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { EVERYTHING, startEverything } from '../helpers/everything-http.js';

describe('stdio versions behind the HTTP router', () => {
  let view: LiveView;
  let router: HttpRouter;
  let url: URL;
  let registry: Registry;
  before(async () => {
    registry = new Registry(new MemoryStore());
    await registry.deploy('everything', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [EVERYTHING, 'stdio'], env: { MCP_ROLLOUT_TAG: 'stdio-one' } } });
    view = new LiveView(registry.store, 100);
    await view.start();
    router = new HttpRouter(view, { ...DEFAULT_ROUTER_OPTIONS, port: 0 });
    url = new URL(`http://127.0.0.1:${await router.listen()}/mcp/everything`);
  });
  after(async () => {
    await router.close(1000);
    view.stop();
  });

  it('serves a session from its own process: calls, progress, sampling; DELETE ends the process', async () => {
    const transport = new StreamableHTTPClientTransport(url);
    const client = new Client({ name: 'bridge-test', version: '1.0.0' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'bridged sample' }, model: 'm' }));
    try {
      await client.connect(transport);
      assert.equal(client.getServerVersion()?.name, 'mcp-servers/everything');
      const env = JSON.parse(((await client.callTool({ name: 'get-env', arguments: {} })).content as { text: string }[])[0]!.text) as Record<string, string>;
      assert.equal(env.MCP_ROLLOUT_TAG, 'stdio-one');
      const progress: number[] = [];
      await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
      assert.ok(progress.length >= 2, JSON.stringify(progress));
      const sampled = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } });
      assert.match(JSON.stringify(sampled.content), /bridged sample/);
      assert.deepEqual(router.sessionCounts(), { everything: { '1.0.0': 1 } });
      await transport.terminateSession();
      for (let i = 0; i < 50 && Object.keys(router.sessionCounts()).length > 0; i++) await sleep(50);
      assert.deepEqual(router.sessionCounts(), {});
    } finally {
      await client.close();
    }
  });

  it('a legacy HTTP+SSE version serves a Streamable HTTP session through the router', async () => {
    const backend = await startEverything({}, 'sse');
    try {
      await registry.deploy('legacy', { version: '1.0.0', transport: { type: 'sse', url: backend.url, headers: {} } });
      await view.refresh();
      const transport = new StreamableHTTPClientTransport(new URL(url.href.replace('everything', 'legacy')));
      const client = new Client({ name: 'bridge-test', version: '1.0.0' });
      try {
        await client.connect(transport);
        const echo = await client.callTool({ name: 'echo', arguments: { message: 'over sse' } });
        assert.deepEqual(echo.content, [{ type: 'text', text: 'Echo: over sse' }]);
        const tools = await client.listTools();
        assert.ok(tools.tools.length > 5);
      } finally {
        await transport.terminateSession().catch(() => undefined);
        await client.close();
      }
      // A dual-era client probes with a 2026-07-28 request first: the router answers as a legacy-only server
      // would, so the client falls back to initialize and gets a bridged session.
      const dual = new ModernClient({ name: 'dual-era', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
      const dualTransport = new ModernStreamableHTTPClientTransport(new URL(url.href.replace('everything', 'legacy')));
      try {
        await dual.connect(dualTransport);
        assert.equal(dual.getProtocolEra(), 'legacy');
        const echo = await dual.callTool({ name: 'echo', arguments: { message: 'auto' } });
        assert.deepEqual(echo.content, [{ type: 'text', text: 'Echo: auto' }]);
      } finally {
        await dualTransport.terminateSession().catch(() => undefined);
        await dual.close();
      }
    } finally {
      await backend.stop();
    }
  });

  it('a dual-era client reaches a legacy-only stdio server: its 2026-07-28 probe fails, it falls back to a session', async () => {
    const dual = new ModernClient({ name: 'dual-era', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    const transport = new ModernStreamableHTTPClientTransport(url);
    try {
      await dual.connect(transport);
      assert.equal(dual.getProtocolEra(), 'legacy');
      const echo = await dual.callTool({ name: 'echo', arguments: { message: 'auto' } });
      assert.deepEqual(echo.content, [{ type: 'text', text: 'Echo: auto' }]);
      assert.deepEqual(router.sessionCounts(), { everything: { '1.0.0': 1 } }, 'a session of its own');
    } finally {
      await transport.terminateSession().catch(() => undefined);
      await dual.close();
    }
  });

  it('older clients use the legacy HTTP+SSE transport at /sse/<name>', async () => {
    const client = new Client({ name: 'sse-client-test', version: '1.0.0' });
    try {
      await client.connect(new SSEClientTransport(new URL(url.href.replace('/mcp/', '/sse/'))));
      const echo = await client.callTool({ name: 'echo', arguments: { message: 'old client' } });
      assert.deepEqual(echo.content, [{ type: 'text', text: 'Echo: old client' }]);
      assert.equal((router.sessionCounts().everything ?? {})['1.0.0'], 1);
    } finally {
      await client.close();
    }
    for (let i = 0; i < 50 && Object.keys(router.sessionCounts()).length > 0; i++) await sleep(50);
    assert.deepEqual(router.sessionCounts(), {}, 'closing the stream ended the session and its process');
  });

  it('a stdio version that cannot start answers initialize with an error naming it', async () => {
    await registry.deploy('broken', { version: '3.0.0', transport: { type: 'stdio', command: '/nonexistent/mcp', args: [], env: {} } });
    await view.refresh();
    const client = new Client({ name: 'bridge-test', version: '1.0.0' });
    await assert.rejects(client.connect(new StreamableHTTPClientTransport(new URL(url.href.replace('everything', 'broken')))), /server "broken" version 3\.0\.0 could not be started/);
  });
});
