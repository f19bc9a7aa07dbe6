/**
 * Two versions of server-everything that differ only by an environment variable, behind the real
 * `mcp-rollout proxy` process, with the official SDK client: each session lands on the version its seeded
 * draw picks (server-everything's `get-env` tool shows which), and stays there. Also: a resource
 * subscription's `notifications/resources/updated` crosses the proxy.
 * (The 500-session 20% split is in stdio-proxy.test.ts, on cheap `sed` backends: 500 server-everything
 * processes would take minutes on 2 cores.)
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { chooseByWeight, seededDraws } from '../../src/domain/weighted-choice.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { EVERYTHING } from '../helpers/everything-http.js';
import { BIN_DIR } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

describe('mcp-rollout proxy: versions told apart by an env var', () => {
  let p: TempProject;
  let registry: Registry;
  before(async () => {
    p = await tempProject();
    registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    const everything = (tag: string) => ({ type: 'stdio' as const, command: process.execPath, args: [EVERYTHING, 'stdio'], env: { MCP_ROLLOUT_TAG: tag } });
    await registry.deploy('everything', { version: '1.0.0', transport: everything('blue') });
    await registry.deploy('everything', { version: '2.0.0', transport: everything('green'), traffic: 50 });
  });
  after(() => p.cleanup());

  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  });

  async function connect(seed: number): Promise<Client> {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(BIN_DIR, 'mcp-rollout.js'), 'proxy', 'everything', '--seed', String(seed)],
      cwd: p.dir,
      env: p.env as Record<string, string>,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'split-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(transport);
    return client;
  }

  async function tag(client: Client): Promise<string | undefined> {
    const r = await client.callTool({ name: 'get-env', arguments: {} });
    return (JSON.parse((r.content as { text: string }[])[0]!.text) as Record<string, string>).MCP_ROLLOUT_TAG;
  }

  it('each session runs the version its seeded draw picks, with that version\'s env, for its whole life', async () => {
    const versions = (await registry.get('everything')).server.versions;
    const expected = (seed: number) => (chooseByWeight(versions, seededDraws(seed)())!.version === '2.0.0' ? 'green' : 'blue');
    // Three seeds for each side, so both versions are really exercised.
    const seeds = [...Array(100).keys()];
    const chosen = [...seeds.filter((s) => expected(s) === 'blue').slice(0, 3), ...seeds.filter((s) => expected(s) === 'green').slice(0, 3)];
    for (const seed of chosen) {
      const client = await connect(seed);
      assert.equal(await tag(client), expected(seed), `seed ${seed}`);
      assert.equal(await tag(client), expected(seed), `seed ${seed}, pinned`);
      await client.close();
    }
  });

  it('a subscribed resource\'s updates reach the client', async () => {
    const client = await connect(0);
    const updated: string[] = [];
    const got = new Promise<void>((resolve) =>
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => {
        updated.push(n.params.uri);
        resolve();
      }),
    );
    const uri = (await client.listResources()).resources[0]!.uri;
    await client.subscribeResource({ uri });
    await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    await got;
    assert.equal(updated[0], uri);
    await client.close();
  });
});
