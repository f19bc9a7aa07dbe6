/**
 * `mcp-rollout proxy` as a real process told to stop by a signal while its client still holds stdin open:
 * the proxy ends its backend's process group (a stubborn backend and its grandchild included) and exits.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { pidAlive, waitGone } from '../helpers/processes.js';
import { BIN_DIR } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };

describe('mcp-rollout proxy stopped by a signal', () => {
  let p: TempProject;
  before(async () => {
    p = await tempProject();
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('plain', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW], env: {} } });
    await registry.deploy('stubborn', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW, 'stubborn'], env: {} } });
  });
  after(() => p.cleanup());

  const started: ChildProcessWithoutNullStreams[] = [];
  afterEach(async () => {
    // Reap anything a failed test left: the proxy (by its pid) first, which then ends its backend.
    for (const child of started.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
  });

  /** Starts the proxy, completes initialize and returns it with its backend's pids. */
  async function proxy(server: string): Promise<{ child: ChildProcessWithoutNullStreams; pid: number; grandchild?: number }> {
    const child = spawn(process.execPath, [join(BIN_DIR, 'mcp-rollout.js'), 'proxy', server], { cwd: p.dir, env: p.env, stdio: 'pipe' });
    started.push(child);
    let buf = '';
    const answers: { id?: unknown; result?: { content?: { text: string }[] } }[] = [];
    let wake: (() => void) | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        answers.push(JSON.parse(buf.slice(0, nl)) as (typeof answers)[number]);
        buf = buf.slice(nl + 1);
      }
      wake?.();
    });
    const answer = async (id: number) => {
      for (;;) {
        const i = answers.findIndex((a) => a.id === id);
        if (i !== -1) return answers.splice(i, 1)[0]!;
        await new Promise<void>((r) => (wake = r));
      }
    };
    child.stdin.write(`${JSON.stringify(INIT)}\n`);
    await answer(0);
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'pids' } })}\n`);
    const pids = JSON.parse((await answer(1)).result!.content![0]!.text) as { pid: number; grandchild?: number };
    return { child, ...pids };
  }

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`${signal}: the backend ends and the proxy exits, though the client never closed stdin`, async () => {
      const { child, pid } = await proxy('plain');
      assert.ok(pidAlive(pid));
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
      assert.ok(await waitGone(pid, 5000), 'the backend is gone');
    });
  }

  it('SIGTERM with a backend that ignores EOF and SIGTERM: its process group is killed', async () => {
    const { child, pid, grandchild } = await proxy('stubborn');
    assert.ok(grandchild !== undefined && pidAlive(grandchild));
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
    assert.ok(await waitGone(pid, 5000), 'the backend is gone');
    assert.ok(await waitGone(grandchild, 5000), 'its grandchild is gone');
  });
});
