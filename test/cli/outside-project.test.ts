/**
 * Outside any project, with no registry anywhere: the read-only commands and the proxy say which files they
 * looked in (the proxy also how to point it), and none of them creates a state directory, where it runs or
 * above. A directory created there would become the project root of every command run below it.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { INITIALIZE, startProxy } from '../helpers/proxy-process.js';
import { runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

describe('outside a project, with no registry', () => {
  let p: TempProject;
  let cwd: string;
  /** Every directory of the temp tree from the working directory up: none may gain a .mcp-rollout. */
  let controlled: string[];
  before(async () => {
    p = await tempProject();
    cwd = join(p.dir, 'somewhere', 'below');
    await mkdir(cwd, { recursive: true });
    controlled = [cwd, join(p.dir, 'somewhere'), p.dir];
  });
  after(() => p.cleanup());

  const assertNoStateDir = (): void => {
    for (const dir of controlled) assert.equal(existsSync(join(dir, '.mcp-rollout')), false, `no .mcp-rollout in ${dir}`);
    assert.equal(existsSync(join(p.env.XDG_CONFIG_HOME!, 'mcp-rollout')), false, 'no global state directory either');
  };
  const projectFile = (): string => join(cwd, '.mcp-rollout', 'registry.json');
  const globalFile = (): string => join(p.env.XDG_CONFIG_HOME!, 'mcp-rollout', 'registry.json');
  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  for (const args of [['status', 'memory'], ['history', 'memory'], ['validate', 'memory', '1.0.0']]) {
    it(`mcp-rollout ${args.join(' ')}: exit 1, naming the files looked in; no state directory`, async () => {
      const r = await runCli('rollout', args, { cwd, env: p.env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /unknown server "memory" \(no servers are registered yet\); looked in /);
      assert.match(r.stderr, new RegExp(`project file ${escape(projectFile())} \\(not found\\)`));
      assert.match(r.stderr, new RegExp(`global file ${escape(globalFile())} \\(not found\\)`));
      assert.match(r.stderr, new RegExp(`\\.mcprc ${escape(join(cwd, '.mcprc'))} \\(not found\\)`));
      assertNoStateDir();
    });
  }

  it('mcp-rollout status (every server): says none are registered; no state directory', async () => {
    const r = await runCli('rollout', ['status'], { cwd, env: p.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no servers registered yet/);
    assertNoStateDir();
  });

  it('the proxy answers every request with an error naming the files and how to point it, says it once on stderr, runs until stdin closes, and creates nothing', async () => {
    const x = startProxy('memory', [], { cwd, env: p.env });
    try {
      let out = '';
      x.child.stdout.on('data', (d: string) => (out += d)); // beside the helper's parser: every line, answered or not
      x.send(INITIALIZE);
      const first = await x.answer(0);
      x.send({ jsonrpc: '2.0', method: 'notifications/initialized' }); // a notification: no answer
      x.send({ jsonrpc: '2.0', id: 'list', method: 'tools/list' });
      const second = await x.answer('list');
      for (const e of [first, second]) {
        assert.equal(e.error?.code, -32603);
        const text = e.error!.message;
        assert.match(text, /^unknown server "memory": no registry file defines any server; looked in /);
        assert.ok(text.includes(`project file ${projectFile()} (not found)`), text);
        assert.ok(text.includes(`global file ${globalFile()} (not found)`), text);
        assert.ok(text.includes(`.mcprc ${join(cwd, '.mcprc')} (not found)`), text);
        assert.match(text, /set MCP_ROLLOUT_PROJECT_DIR to the project root/);
        assert.match(text, /deploy the server with --scope global/);
      }
      assert.equal(x.child.exitCode, null, 'still running: the client shows the error');

      const exited = once(x.child, 'exit');
      x.child.stdin.end();
      assert.deepEqual(await exited, [0, null]);
      assert.equal(out.trim().split('\n').length, 2, `two answers, none for the notification: ${out}`);
      const said = x.stderr().split('\n').filter((l) => l.includes('unknown server "memory"'));
      assert.equal(said.length, 1, x.stderr());
      assert.match(said[0]!, /^mcp-rollout proxy memory: every request will fail: unknown server "memory": .*MCP_ROLLOUT_PROJECT_DIR/);
      // The proxy wrote its telemetry a last time on the way out: with no state directory, nowhere.
      assertNoStateDir();
    } finally {
      await x.reap();
    }
  });
});
