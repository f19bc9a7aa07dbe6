/**
 * Rollouts of managed versions built on the v2 SDK (test/fixtures/servers/modern-server.mjs over HTTP), through a
 * real `mcp-rollout serve` under client load, for the cases the managed-versions issue lists besides the leak:
 * a healthy blue/green switch fails no request and stops the old blue after the window; a green that crashes
 * under traffic (again after each restart) is rolled back naming the crash, its restarts counted; and serve
 * SIGKILLed in the middle of a rollout leaves neither the blue's nor the green's server running.
 *
 * The clients are the v1 SDK's Client over Streamable HTTP (initialize, then calls): the router keeps the session
 * and the v2 server behind it answers statelessly, as it does for any client of the older era.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort } from '../helpers/everything-http.js';
import { pidsWith, waitGone } from '../helpers/processes.js';
import { runCli } from '../helpers/run-cli.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const MODERN = fileURLToPath(new URL('../../../test/fixtures/servers/modern-server.mjs', import.meta.url));

/** Each answer's text, by the TAG that starts it (which version answered), and every failure's message. */
interface Tally {
  ok: number;
  byTag: Map<string, number>;
  failed: string[];
}

/** `workers` client loops, each opening a session, calling echo three times and ending it, until stopped. */
function clientLoad(port: number, server: string, workers: number) {
  let stopped = false;
  const tally: Tally = { ok: 0, byTag: new Map(), failed: [] };
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const client = new Client({ name: 'load', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/${server}`));
      try {
        await client.connect(transport);
        for (let i = 0; i < 3 && !stopped; i++) {
          const r = await client.callTool({ name: 'echo', arguments: { text: 'x' } });
          const text = (r.content as { text?: string }[])[0]?.text ?? '';
          if (r.isError) {
            tally.failed.push(text);
            continue;
          }
          tally.ok++;
          const tag = text.split(' ')[0]!;
          tally.byTag.set(tag, (tally.byTag.get(tag) ?? 0) + 1);
        }
      } catch (e) {
        tally.failed.push((e as Error).message);
      } finally {
        // Ended with DELETE, as a client that is done does: no session is left pinned to a retired version.
        await transport.terminateSession().catch(() => undefined);
        await client.close().catch(() => undefined);
      }
    }
  };
  const loops = Array.from({ length: workers }, loop);
  return { tally, stop: async () => ((stopped = true), await Promise.all(loops)) };
}

/** Polls `probe` until it returns a value (not undefined); the deadline only bounds a failing test. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  for (const until = Date.now() + ms; ; ) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await sleep(100);
  }
}

/** `mcp-deploy modern <version>` as a managed v2 server with `token` on its command line and TAG=<tag>. */
const deployArgs = (version: string, token: string, tag: string, extra: string[], serverArgs: string[] = []): string[] =>
  ['modern', version, '--type', 'http', '--command', process.execPath, '--port', 'auto', '--env', `TAG=${tag}`, ...extra, '--', MODERN, '--http', '--port', '{port}', ...serverArgs, token];

type Managed = { state: string; pid?: number; restarts: number };
async function managedOf(p: TempProject, version: string): Promise<Managed | undefined> {
  const r = await runCli('status', ['modern', '--json'], { cwd: p.dir, env: p.env });
  const s = r.json<{ servers: { versions: { version: string; usage: { managed?: Managed } | null }[] }[] }>();
  return s.servers[0]?.versions.find((v) => v.version === version)?.usage?.managed;
}

describe('rollouts of managed v2 SDK HTTP servers under load through serve', () => {
  const projects: TempProject[] = [];
  const serves: ServeProcess[] = [];
  const tokens: string[] = [];
  const project = async (): Promise<TempProject> => {
    const p = await tempProject();
    projects.push(p);
    return p;
  };
  const token = (what: string): string => {
    const t = `${what}-${randomUUID()}`;
    tokens.push(t);
    return t;
  };
  afterEach(async () => {
    for (const s of serves.splice(0)) await s.stop();
  });
  after(async () => {
    for (const pid of tokens.flatMap(pidsWith)) process.kill(pid, 'SIGKILL');
    for (const p of projects) await p.cleanup();
  });

  it('switches a managed blue to a managed green with no failed request, and stops the old blue after the window', async (t) => {
    const p = await project();
    const [blueToken, greenToken] = [token('blue'), token('green')];
    const blue = await runCli('deploy', deployArgs('1.0.0', blueToken, 'blue', []), { cwd: p.dir, env: p.env });
    assert.equal(blue.code, 0, blue.stdout + blue.stderr);
    const port = await freePort();
    serves.push(await startServe(port, { cwd: p.dir, env: p.env }, ['--rollback-window', '1s']));
    const [bluePid] = pidsWith(blueToken);
    assert.ok(bluePid !== undefined, 'serve started the blue');

    const load = clientLoad(port, 'modern', 3);
    let green;
    try {
      await waitFor('the blue answering the load', () => Promise.resolve(load.tally.ok > 0 ? true : undefined));
      green = await runCli('deploy', deployArgs('1.1.0', greenToken, 'green', ['--strategy', 'bluegreen', '--bake', '6s']), { cwd: p.dir, env: p.env });
      // Calls on the promoted green after the switch, so the load spans both sides of it.
      const greenBefore = load.tally.byTag.get('green') ?? 0;
      await waitFor('calls answered by the green', () => Promise.resolve((load.tally.byTag.get('green') ?? 0) > greenBefore + 10 ? true : undefined));
    } finally {
      await load.stop();
    }
    t.diagnostic(`answered ${load.tally.ok} (${JSON.stringify(Object.fromEntries(load.tally.byTag))}), failed ${load.tally.failed.length}`);
    assert.equal(green.code, 0, green.stdout + green.stderr);
    assert.match(green.stdout, /process +green 1\.1\.0 started by the router: pid \d+, port \d+, ready/);
    assert.match(green.stdout, /promoted +1\.1\.0 promoted to blue/);
    assert.deepEqual(load.tally.failed, [], `failed requests under load (${load.tally.ok} answered)`);
    assert.ok((load.tally.byTag.get('blue') ?? 0) > 0 && (load.tally.byTag.get('green') ?? 0) > 0, `both versions answered: ${JSON.stringify([...load.tally.byTag])}`);

    assert.equal(await waitGone(bluePid, 20_000), true, 'the old blue outlived the rollback window');
    assert.equal(pidsWith(greenToken).length, 1, 'the new blue runs on');
  });

  it('rolls back a green that crashes under traffic, naming the crash in the output, the history and the rollout events, its restarts counted', async (t) => {
    const p = await project();
    const [blueToken, greenToken] = [token('blue'), token('crashy')];
    const blue = await runCli('deploy', deployArgs('1.0.0', blueToken, 'blue', ['--skip-validation']), { cwd: p.dir, env: p.env });
    assert.equal(blue.code, 0, blue.stdout + blue.stderr);
    const port = await freePort();
    // A long window: the rolled-back green keeps being restarted and stays visible in status for the assertions.
    serves.push(await startServe(port, { cwd: p.dir, env: p.env }, ['--rollback-window', '5m']));

    const load = clientLoad(port, 'modern', 3);
    let deploy;
    try {
      await waitFor('the blue answering the load', () => Promise.resolve(load.tally.ok > 0 ? true : undefined));
      // Validation calls no tool here, so the private instance passes; under the router's traffic it dies after each
      // restart's first call.
      deploy = await runCli('deploy', deployArgs('1.1.0', greenToken, 'crashy', ['--strategy', 'canary', '--steps', '50,100', '--interval', '30s'], ['--exit-after-calls', '1']), { cwd: p.dir, env: p.env });
    } finally {
      await load.stop();
    }
    // Calls in flight on the green when it died fail (it crashed: that is the point); they are counted, not asserted.
    t.diagnostic(`answered ${load.tally.ok} (${JSON.stringify(Object.fromEntries(load.tally.byTag))}), failed ${load.tally.failed.length}: ${[...new Set(load.tally.failed)].join(' | ')}`);
    assert.equal(deploy.code, 1, deploy.stdout + deploy.stderr);
    // Deploy's table does not read what routers report, so it says nothing of the managed processes (it used to say
    // "no router runs it" of both versions while serve ran them).
    assert.doesNotMatch(deploy.stdout, /no router runs it/);
    // Whichever sees the death first rolls it back: the analysis (the crash counted) or the health probe (the
    // server gone in the middle of its handshake, or not restarted yet). Both are the crash, named.
    const CRASH = /\d+ backend crash(es)? > 0 allowed|health probe failed: .*(closed the connection|not running|exited|held)/;
    assert.match(deploy.stdout, new RegExp(`rolled back: .*(${CRASH.source})`));

    const history = await runCli('history', ['modern', '1.1.0'], { cwd: p.dir, env: p.env });
    assert.match(history.stdout, CRASH, history.stdout);
    assert.match(history.stdout, /process restarted: exited with code 1/, history.stdout);
    const watch = await runCli('rollout', ['status', 'modern', '--watch'], { cwd: p.dir, env: p.env });
    assert.match(watch.stdout, /rolled-back|rolled back/);
    assert.match(watch.stdout, CRASH);

    // Restarted after its death (rolled back, it is kept for the window): the restart is counted in status and /metrics.
    const m = await waitFor('the rolled-back green restarted', async () => {
      const s = await managedOf(p, '1.1.0');
      return s !== undefined && s.restarts >= 1 ? s : undefined;
    });
    assert.ok(m.restarts >= 1);
    t.diagnostic(`restarts of the rolled-back green: ${m.restarts}`);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const restarts = /mcp_rollout_managed_restarts\{server="modern",version="1\.1\.0"\} (\d+)/.exec(metrics);
    assert.ok(restarts && Number(restarts[1]) >= 1, metrics);
    assert.match(metrics, /mcp_rollout_backend_crashes_total\{server="modern",version="1\.1\.0"\} [1-9]/);

    // The blue serves every new session.
    const client = new Client({ name: 'after', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/modern`)));
    try {
      const r = await client.callTool({ name: 'echo', arguments: { text: 'after' } });
      assert.equal((r.content as { text: string }[])[0]!.text, 'blue echo: after');
    } finally {
      await client.close();
    }
  });

  it('serve SIGKILLed during a rollout leaves neither the blue nor the green server running', async () => {
    const p = await project();
    const [blueToken, greenToken] = [token('blue'), token('green')];
    const blue = await runCli('deploy', deployArgs('1.0.0', blueToken, 'blue', ['--skip-validation']), { cwd: p.dir, env: p.env });
    assert.equal(blue.code, 0, blue.stdout + blue.stderr);
    const port = await freePort();
    const serve = await startServe(port, { cwd: p.dir, env: p.env });
    serves.push(serve);
    const load = clientLoad(port, 'modern', 2);
    try {
      const green = await runCli('deploy', deployArgs('1.1.0', greenToken, 'green', ['--skip-validation', '--strategy', 'canary', '--steps', '50,100', '--interval', '5m', '--detach']), { cwd: p.dir, env: p.env });
      assert.equal(green.code, 0, green.stdout + green.stderr);
      const status = await runCli('rollout', ['status', 'modern', '--json'], { cwd: p.dir, env: p.env });
      assert.match(status.stdout, /"phase": ?"Progressing"/, status.stdout);
      const pids = [...pidsWith(blueToken), ...pidsWith(greenToken)];
      assert.equal(pids.length, 2, `blue and green running: ${pids.join(', ')}`);

      serve.child.kill('SIGKILL');
      for (const pid of pids) assert.equal(await waitGone(pid, 15_000), true, `managed pid ${pid} outlived serve`);
    } finally {
      await load.stop();
    }
  });
});
