/**
 * The demo (`npm run demo`): an example MCP server in three versions behind the real HTTP router, with a
 * small synthetic client load. v1 becomes blue; v2 (adds a tool) is rolled out as a canary and promoted;
 * v3 (fails a third of its calls) is rolled out as a canary and rolled back automatically, with its reason.
 * Every step is a real command; the timeline and the final status are printed. Nothing is left behind.
 */
import { freePort } from '../src/free-port.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processIo } from '../src/cli/process-io.js';
import { runCli } from '../src/cli/run.js';
import { startLoad, type RunningLoad } from '../src/load/client-load.js';
import { waitForOutput } from '../test/helpers/output.js';

const SERVER = fileURLToPath(new URL('../../examples/weather-server.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/bin/mcp-rollout.js', import.meta.url));
const t0 = Date.now();
const say = (text: string): void => void process.stdout.write(`${text}\n`);
const children: ChildProcess[] = [];


/** Starts a process and resolves once a line of its output matches `ready`. */
function start(args: string[], cwd: string, env: NodeJS.ProcessEnv, ready: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return waitForOutput(child, ready).then(() => child);
}

const dir = await mkdtemp(join(tmpdir(), 'mcp-rollout-demo-'));
const env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'xdg'), NO_COLOR: '1' };
const io = { ...processIo(), cwd: dir, env };
const step = async (title: string, ...argv: string[]): Promise<number> => {
  say(`\n# ${title}  (+${((Date.now() - t0) / 1000).toFixed(1)} s)\n$ mcp-rollout ${argv.join(' ').replaceAll(dir, '.')}`);
  return runCli(argv, io);
};
let traffic: RunningLoad | undefined;
try {
  say(`mcp-rollout demo in ${dir}`);
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const [p1, p2, p3, routerPort] = ports as [number, number, number, number];
  await Promise.all(
    [['v1', p1], ['v2', p2], ['v3', p3]].map(([variant, port]) => start([SERVER, String(variant), '--http', String(port)], dir, env, /listening/)),
  );
  const url = (port: number): string[] => ['--type', 'http', '--url', `http://127.0.0.1:${port}/mcp`];

  if ((await step('v1: validated, then blue at 100% (the first version of "weather")', 'deploy', 'weather', '1.0.0', ...url(p1))) !== 0) throw new Error('v1 failed');
  say(`\n# the router, and 4 clients opening sessions through it  (+${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  await start([CLI, 'serve', '--port', String(routerPort)], dir, env, /listening/);
  say(`$ mcp-rollout serve --port ${routerPort}`);
  traffic = startLoad({
    url: `http://127.0.0.1:${routerPort}/mcp/weather`,
    workers: 4,
    callsPerSession: 5,
    calls: [{ name: 'current', arguments: {} }, { name: 'forecast', arguments: { city: 'Lisbon' } }],
    pauseMs: 20,
  });

  const canary = ['--strategy', 'canary', '--steps', '25,50,100', '--interval', '4s'];
  const v2 = await step('v2 (adds the tool "alerts"): validated, diffed, then a canary', 'deploy', 'weather', '2.0.0', ...url(p2), ...canary);
  const v3 = await step('v3 (fails a third of its calls): validated, then a canary', 'deploy', 'weather', '2.1.0', ...url(p3), ...canary);
  const stats = await traffic.stop();
  traffic = undefined;

  await step("v3's history: the automatic rollback and its reason", 'history', 'weather', '2.1.0');
  await step('final status', 'status');
  const own = stats.failures.filter((f) => f.includes('weather backend timed out')).length;
  say(`\n# client load: ${stats.sessions} sessions, ${stats.calls} tool calls answered; failed: ${own} by v3's own errors, ${stats.failures.length - own} otherwise; ${stats.sessionsEnded} sessions ended by the rollback (and restarted)`);
  say(`# outcome: v2 rollout exit ${v2} (${v2 === 0 ? 'promoted' : 'NOT promoted'}), v3 rollout exit ${v3} (${v3 === 1 ? 'rolled back' : 'NOT rolled back'}); ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (v2 !== 0 || v3 !== 1) process.exitCode = 1;
} finally {
  await traffic?.stop();
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  await rm(dir, { recursive: true, force: true });
}
