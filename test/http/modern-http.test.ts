/**
 * The stateless 2026-07-28 revision over HTTP: the v2 SDK client pinned to it, through the router, to v2 SDK
 * servers on stdio (one pooled process per version). A client stays on its version; a rollback moves it.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { DEFAULT_ROUTER_OPTIONS, HttpRouter } from '../../src/http/http-router.js';
import { LiveView } from '../../src/registry/live-view.js';
import { Registry } from '../../src/registry/registry.js';
import { MemoryStore } from '../../src/state/memory-store.js';

const MODERN = fileURLToPath(new URL('../../../test/fixtures/servers/modern-server.mjs', import.meta.url));

describe('2026-07-28 over HTTP through the router', () => {
  let registry: Registry;
  let view: LiveView;
  let router: HttpRouter;
  let url: URL;
  before(async () => {
    registry = new Registry(new MemoryStore());
    const v = (tag: string) => ({ type: 'stdio' as const, command: process.execPath, args: [MODERN], env: { TAG: tag } });
    await registry.deploy('modern', { version: '1.0.0', transport: v('one') });
    await registry.deploy('modern', { version: '2.0.0', transport: v('two'), traffic: 100 });
    view = new LiveView(registry.store, 50);
    await view.start();
    router = new HttpRouter(view, { ...DEFAULT_ROUTER_OPTIONS, port: 0, rollbackWindowMs: 3000 });
    url = new URL(`http://127.0.0.1:${await router.listen()}/mcp/modern`);
  });
  after(async () => {
    await router.close(1000);
    view.stop();
  });

  it('a pinned modern client is served statelessly, stays on its version, and moves after a rollback', async () => {
    const client = new Client({ name: 'modern-http-test', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    try {
      await client.connect(new StreamableHTTPClientTransport(url));
      assert.equal(client.getProtocolEra(), 'modern');
      const text = async (): Promise<string> => ((await client.callTool({ name: 'echo', arguments: { text: 'hi' } })).content as { text: string }[])[0]!.text;
      for (let i = 0; i < 5; i++) assert.equal(await text(), 'two echo: hi');
      await registry.rollback('modern', '2.0.0', 'bad');
      let now = '';
      for (let i = 0; i < 40 && now !== 'one echo: hi'; i++) {
        await sleep(50);
        now = await text();
      }
      assert.equal(now, 'one echo: hi');
      assert.deepEqual(router.sessionCounts(), {}, 'no sessions in the stateless revision');
      // The rolled-back version's process stays warm for the rollback window, then it is stopped.
      assert.deepEqual(router.pooledVersions(), ['modern@1.0.0', 'modern@2.0.0']);
      for (let i = 0; i < 200 && router.pooledVersions().length > 1; i++) await sleep(50);
      assert.deepEqual(router.pooledVersions(), ['modern@1.0.0']);
    } finally {
      await client.close();
    }
  });
});
