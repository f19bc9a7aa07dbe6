/**
 * `mcp-rollout proxy` through the real CLI, spoken to with raw lines: its options (--request-timeout,
 * --max-message-bytes, bad values), ids 0 and strings, a non-JSON line, and an unknown server.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Registry } from '../../src/registry/registry.js';
import { JsonFileStore } from '../../src/state/json-file-store.js';
import { INITIALIZE, startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const RAW = fileURLToPath(new URL('../../../test/fixtures/servers/raw-server.mjs', import.meta.url));

describe('mcp-rollout proxy options, through the real CLI', () => {
  let p: TempProject;
  before(async () => {
    p = await tempProject();
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: p.dir, env: p.env }));
    await registry.deploy('raw', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [RAW], env: { TAG: 'one' } } });
  });
  after(() => p.cleanup());

  const started: ProxyProcess[] = [];
  afterEach(async () => {
    for (const x of started.splice(0)) {
      x.child.stdin.end();
      await x.reap();
    }
  });
  const proxy = (server: string, args: string[] = []): ProxyProcess => {
    const x = startProxy(server, args, { cwd: p.dir, env: p.env });
    started.push(x);
    return x;
  };

  it('ids 0 and strings pass exactly; a non-JSON line gets -32700 and the proxy keeps serving', async () => {
    const x = proxy('raw');
    x.send(INITIALIZE);
    assert.equal(((await x.answer(0)).result!.serverInfo as { version: string }).version, 'one');
    x.send('{"jsonrpc":"2.0","id":"0","method":"tools/call","params":{"name":"tag"}}');
    assert.deepEqual((await x.answer('0')).result, { content: [{ type: 'text', text: 'one' }] });
    x.send('{not json');
    const e = await x.answer(null);
    assert.equal(e.error?.code, -32700);
    x.send({ jsonrpc: '2.0', id: 0, method: 'tools/call', params: { name: 'echo', arguments: { still: 'here' } } });
    assert.deepEqual((await x.answer(0)).result, { content: [{ type: 'text', text: '{"still":"here"}' }] });
  });

  it('--request-timeout: a request the backend never answers fails at that deadline', async () => {
    const x = proxy('raw', ['--request-timeout', '300ms']);
    x.send(INITIALIZE);
    await x.answer(0);
    x.send({ jsonrpc: '2.0', id: 'h', method: 'tools/call', params: { name: 'hang' } });
    const e = await x.answer('h');
    assert.equal(e.error?.code, -32603);
    assert.match(e.error!.message, /server "raw" version 1\.0\.0 did not answer tools\/call within 300 ms/);
  });

  it('--max-message-bytes: a larger request gets -32600 under its id; a larger answer fails its request', async () => {
    const x = proxy('raw', ['--max-message-bytes', '2048']);
    x.send(INITIALIZE);
    await x.answer(0);
    x.send({ jsonrpc: '2.0', id: 'in', method: 'tools/call', params: { name: 'echo', arguments: { pad: 'p'.repeat(3000) } } });
    const big = await x.answer('in');
    assert.equal(big.error?.code, -32600);
    assert.match(big.error!.message, /exceeds the limit of 2048/);
    x.send({ jsonrpc: '2.0', id: 'out', method: 'tools/call', params: { name: 'big', arguments: { bytes: 3000 } } });
    assert.match((await x.answer('out')).error!.message, /sent an answer of \d+ bytes, over the limit of 2048/);
  });

  it('an unknown server: the first request gets an error saying so, and the proxy exits when the client goes', async () => {
    const x = proxy('nope');
    x.send(INITIALIZE);
    const e = await x.answer(0);
    assert.equal(e.error?.code, -32603);
    assert.match(e.error!.message, /unknown server "nope"/);
    const exited = once(x.child, 'exit');
    x.child.stdin.end();
    assert.deepEqual(await exited, [0, null]);
  });

  for (const [args, message] of [
    [['--max-message-bytes', '10'], /--max-message-bytes must be an integer of at least 1024/],
    [['--seed', 'x'], /--seed must be a non-negative integer/],
    [['--request-timeout', '0'], /--request-timeout must be at least 1ms/],
    [['--request-timeout', 'soon'], /not a duration/],
    [['--rollback-window', 'later'], /--rollback-window "later" is not a duration/],
  ] as const) {
    it(`${args.join(' ')}: exit 2 with one line on stderr`, async () => {
      const r = await runCli('rollout', ['proxy', 'raw', ...args], { cwd: p.dir, env: p.env });
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    });
  }
});
