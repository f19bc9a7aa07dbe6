/**
 * `mcp-rollout serve` as a real process: it announces itself, serves, and on SIGTERM lets an in-flight
 * request finish, withdraws, and exits 0.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { freePort, startEverything, type RunningBackend } from '../helpers/everything-http.js';
import { BIN_DIR } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

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
    const port = await freePort();
    const child = spawn(process.execPath, [join(BIN_DIR, 'mcp-rollout.js'), 'serve', '--port', String(port)], { cwd: p.dir, env: p.env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    for (let i = 0; i < 100 && !out.includes('listening'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(out, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}/mcp/<name> \\(everything\\)`));
    assert.deepEqual(await readdir(join(p.dir, '.mcp-rollout', 'routers')), [`${child.pid}.json`]);

    const client = new Client({ name: 'drain-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/everything`)));
    const slow = client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } });
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGTERM');
    const result = await slow;
    assert.match(JSON.stringify(result.content), /Long running operation completed/i);
    assert.equal(await exited, 0);
    assert.match(out, /stopped/);
    assert.deepEqual(await readdir(join(p.dir, '.mcp-rollout', 'routers')), []);
    await client.close();
  });
});
