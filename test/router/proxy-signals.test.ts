/**
 * `mcp-rollout proxy` as a real process told to stop by a signal while its client still holds stdin open:
 * the proxy ends its backend's process group (a stubborn backend and its grandchild included) and exits.
 * Killed outright (SIGKILL), it can do nothing: the backend's lifeline process ends the group instead.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { pidAlive, waitGone } from '../helpers/processes.js';
import { INITIALIZE, startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));

describe('mcp-rollout proxy stopped by a signal', () => {
  let p: TempProject;
  before(async () => {
    p = await tempProject();
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('plain', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW], env: {} } });
    await registry.deploy('stubborn', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW, 'stubborn'], env: {} } });
  });
  after(() => p.cleanup());

  const started: ProxyProcess[] = [];
  afterEach(async () => {
    // Reap anything a failed test left (the lifeline then ends its backend).
    await Promise.all(started.splice(0).map((x) => x.reap()));
  });

  /** Starts the proxy, completes initialize and returns it with its backend's pids. */
  async function proxy(server: string): Promise<{ child: ProxyProcess['child']; pid: number; grandchild?: number }> {
    const x = startProxy(server, [], { cwd: p.dir, env: p.env });
    started.push(x);
    x.send(INITIALIZE);
    await x.answer(0);
    x.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'pids' } });
    const pids = JSON.parse(((await x.answer(1)).result!.content as { text: string }[])[0]!.text) as { pid: number; grandchild?: number };
    return { child: x.child, ...pids };
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

  it('SIGKILL (nothing runs in the proxy any more): its lifeline ends the backend\'s group, stubborn or not', async () => {
    const { child, pid, grandchild } = await proxy('stubborn');
    assert.ok(grandchild !== undefined);
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    assert.ok(await waitGone(pid, 10_000), 'the backend is gone');
    assert.ok(await waitGone(grandchild, 10_000), 'its grandchild is gone');
  });

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
