/**
 * The stateless 2026-07-28 revision through the stdio proxy: the v2 SDK client pinned to it, a v2 SDK server
 * behind, no handshake. The session stays on its version and still moves after a rollback.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { BIN_DIR } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const MODERN = fileURLToPath(new URL('../../../test/fixtures/servers/modern-server.mjs', import.meta.url));

describe('2026-07-28 through the stdio proxy', () => {
  let p: TempProject;
  let registry: Registry;
  before(async () => {
    p = await tempProject();
    registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    const v = (tag: string) => ({ type: 'stdio' as const, command: process.execPath, args: [MODERN], env: { TAG: tag } });
    await registry.deploy('modern', { version: '1.0.0', transport: v('one') });
    await registry.deploy('modern', { version: '2.0.0', transport: v('two'), traffic: 100 });
  });
  after(() => p.cleanup());

  it('a pinned modern client works through the proxy, and its session moves after a rollback', async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [join(BIN_DIR, 'mcp-rollout.js'), 'proxy', 'modern'], cwd: p.dir, env: p.env as Record<string, string> });
    const client = new Client({ name: 'modern-test', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    try {
      await client.connect(transport);
      assert.equal(client.getProtocolEra(), 'modern');
      assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
      const text = async (): Promise<string> => ((await client.callTool({ name: 'echo', arguments: { text: 'hi' } })).content as { text: string }[])[0]!.text;
      assert.equal(await text(), 'two echo: hi');
      assert.equal(await text(), 'two echo: hi');
      await registry.rollback('modern', '2.0.0', 'bad');
      let after = '';
      for (let i = 0; i < 40 && after !== 'one echo: hi'; i++) {
        await sleep(100);
        after = await text();
      }
      assert.equal(after, 'one echo: hi');
    } finally {
      await client.close();
    }
  });

  it('an input_required result and its retry (with requestState) cross the proxy', async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [join(BIN_DIR, 'mcp-rollout.js'), 'proxy', 'modern'], cwd: p.dir, env: p.env as Record<string, string> });
    const client = new Client({ name: 'modern-test', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } }, capabilities: { elicitation: { form: {} } } });
    const asked: string[] = [];
    client.setRequestHandler('elicitation/create', async (request) => {
      asked.push(request.params.message);
      return { action: 'accept', content: { ok: true } };
    });
    try {
      await client.connect(transport);
      const r = await client.callTool({ name: 'confirm', arguments: { what: 'the thing' } });
      assert.deepEqual(asked, ['Do the thing?']);
      assert.match((r.content as { text: string }[])[0]!.text, /did the thing$/);
    } finally {
      await client.close();
    }
  });
});
