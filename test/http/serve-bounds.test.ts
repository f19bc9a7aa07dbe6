/**
 * `mcp-rollout serve --max-processes` as a real process: it holds a stdio version to the cap (counted among
 * its children with ps), and `mcp-status` shows the version's backend processes, read from the running router.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { freePort } from '../helpers/everything-http.js';
import { waitForOutput } from '../helpers/output.js';
import { BIN_DIR, runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

describe('mcp-rollout serve --max-processes', () => {
  let p: TempProject;
  before(async () => {
    p = await tempProject();
    await new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env })).deploy('raw', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW], env: {} } });
  });
  after(() => p.cleanup());

  it('keeps a version to the cap, and mcp-status shows its processes', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [join(BIN_DIR, 'mcp-rollout.js'), 'serve', '--port', String(port), '--max-processes', '2', '--process-idle-timeout', '10m'], { cwd: p.dir, env: p.env });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitForOutput(child, /listening/);
      // Three sessions that never send DELETE.
      for (let i = 0; i < 3; i++) {
        const init = await fetch(`http://127.0.0.1:${port}/mcp/raw`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'serve-bounds', version: '1' } } }) });
        assert.equal(init.status, 200);
        await init.text();
      }
      const children = execFileSync('ps', ['--ppid', String(child.pid), '-o', 'args=']).toString().split('\n').filter((l) => l.includes(RAW));
      assert.equal(children.length, 2, 'two backend processes under the router');

      const status = await runCli('status', ['raw', '--json'], { cwd: p.dir, env: p.env });
      const usage = status.json<{ servers: { versions: { usage: { sessions: number; processes: number } }[] }[] }>().servers[0]!.versions[0]!.usage;
      assert.deepEqual({ sessions: usage.sessions, processes: usage.processes }, { sessions: 2, processes: 2 });
      const human = await runCli('status', ['raw'], { cwd: p.dir, env: p.env });
      assert.match(human.stdout, /SESSIONS\s+REQUESTS\s+ERRORS\s+P50\s+P99\s+PROCS/);
      assert.match(human.stdout, /1\.0\.0 .* 2\s+stdio/);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  const bad: [string, string[], RegExp][] = [
    ['a cap of zero', ['--max-processes', '0'], /--max-processes must be an integer from 1 to 100000, got "0"/],
    ['an idle timeout that is no duration', ['--process-idle-timeout', 'soon'], /--process-idle-timeout "soon" is not a duration/],
  ];
  for (const [label, args, message] of bad) {
    it(`refuses ${label} (exit 2, one line naming the option)`, async () => {
      const r = await runCli('rollout', ['serve', '--port', '0', ...args], { cwd: p.dir, env: p.env });
      assert.equal(r.code, 2);
      assert.match(r.stderr, message);
    });
  }
});
