/**
 * An outside client: the MCP Inspector CLI calls a tool through the HTTP router (over Streamable HTTP).
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startEverything, type RunningBackend } from '../helpers/everything-http.js';
import { startRouter, type RouterHarness } from '../helpers/router-harness.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const INSPECTOR = fileURLToPath(new URL('../../../node_modules/@modelcontextprotocol/inspector-cli/build/cli.js', import.meta.url));

describe('MCP Inspector CLI through the router', () => {
  let p: TempProject;
  let backend: RunningBackend;
  let r: RouterHarness;
  let url: string;
  before(async () => {
    p = await tempProject();
    backend = await startEverything();
    r = await startRouter((registry) => registry.deploy('everything', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } }).then(() => undefined));
    url = r.url('everything');
  });
  after(async () => {
    await r.close();
    await backend.stop();
    await p.cleanup();
  });

  it('lists tools and calls echo', async () => {
    // The Inspector CLI insists on a package.json in the parent of its working directory.
    await writeFile(join(p.dir, 'package.json'), '{}');
    const cwd = join(p.dir, 'inspector');
    await mkdir(cwd);
    const run = (...args: string[]) => promisify(execFile)(process.execPath, [INSPECTOR, '--cli', url, '--transport', 'http', ...args], { cwd, timeout: 30_000 });
    const list = await run('--method', 'tools/list');
    assert.match(list.stdout, /"name": "echo"/);
    const call = await run('--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'message=from the inspector');
    assert.match(call.stdout, /"text": "Echo: from the inspector"/);
  });
});
