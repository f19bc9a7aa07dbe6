/**
 * A front's CPU per forwarded call, counted in instructions rather than timed: the router (`serve`, in front of
 * server-everything over Streamable HTTP) or the stdio proxy (`proxy`, in front of server-everything over
 * stdio) runs under valgrind's callgrind, one SDK v1 client calls `echo` in sequence, and only the calls after the
 * warm-up are counted (the JIT has compiled the hot paths by then; its compiling is a cost of the first thousands
 * of calls, not of each). On a shared 2-core machine a timed CPU figure moves by ±10% from run to run; this
 * count moves much less (a few percent, more when the machine is loaded; the main thread's count, without V8's
 * helper threads, least): compare checkouts in one run.
 *
 *   node dist/scripts/instructions-per-call.js [--front router|proxy] [--warm 3000] [--calls 2000] [--idle 10] [checkout ...]
 *
 * Each checkout (default: this one) is a directory holding a built mcp-rollout (`dist/`); the backend and the
 * client are this checkout's. Needs valgrind (`apt-get install valgrind`). Under valgrind a call takes 5-7 ms
 * once warm (about 40 ms cold): the defaults take about 3 minutes per checkout.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort } from '../src/free-port.js';
import { isProcessAlive } from '../src/process-alive.js';
import { EVERYTHING, startEverything } from '../test/helpers/everything-http.js';

const HERE = fileURLToPath(new URL('../..', import.meta.url));

interface Measured {
  /** Instructions per call, all counted. */
  gross: number;
  /** Instructions per second with no call (the router's timers). */
  idlePerSecond: number;
  /** Instructions per call less the background work of its duration. */
  net: number;
  /**
   * `net` on the main thread alone: without V8's helper threads (concurrent compiling, concurrent marking), whose
   * share moves from run to run with when the JIT gets to which function. Steadier for comparing request paths.
   */
  mainNet: number;
  /** Milliseconds per call under valgrind. */
  callMs: number;
}

/** The environment of a project in `dir`, with its global scope there too (nothing of the user's is read). */
const projectEnv = (dir: string): NodeJS.ProcessEnv => ({ ...process.env, MCP_ROLLOUT_PROJECT_DIR: dir, XDG_CONFIG_HOME: dir });

/** Runs `checkout`'s CLI to completion in `dir`; rejects naming the command when it fails. */
async function cli(checkout: string, dir: string, args: string[]): Promise<void> {
  const child = spawn(process.execPath, [join(checkout, 'dist/src/cli/bin/mcp-rollout.js'), ...args], { cwd: dir, env: projectEnv(dir), stdio: 'ignore' });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`mcp-rollout ${args.join(' ')} exited with ${code} (${checkout})`);
}

type Front = 'router' | 'proxy';

/** A front of `checkout` running under callgrind (instrumentation off until asked), with a client connected. */
interface Measuring {
  pid: number;
  call: () => Promise<unknown>;
  /** Closes the client and ends the front; resolves once it has exited. */
  stop: () => Promise<void>;
}

const VALGRIND = ['--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', '--separate-threads=yes'];
const ECHO = { name: 'echo', arguments: { message: 'x' } };

/** `serve` in front of server-everything over Streamable HTTP, and an SDK v1 client of its `/mcp/everything`. */
async function startRouter(checkout: string, dir: string, env: NodeJS.ProcessEnv, out: string, backendUrl: string): Promise<Measuring> {
  await cli(checkout, dir, ['deploy', 'everything', '1.0.0', '--type', 'http', '--url', backendUrl, '--skip-validation']);
  const port = await freePort();
  const serve = spawn('valgrind', [...VALGRIND, `--callgrind-out-file=${out}`, process.execPath, join(checkout, 'dist/src/cli/bin/mcp-rollout.js'), 'serve', '--port', String(port)], { cwd: dir, env, stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = once(serve, 'exit');
  await new Promise<void>((ok, fail) => {
    serve.stdout.on('data', (d: Buffer) => d.toString().includes('listening') && ok());
    serve.once('exit', (code) => fail(new Error(`serve under valgrind exited with ${code} before listening (${checkout})`)));
  });
  const client = new Client({ name: 'instructions-per-call', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/everything`)));
  return {
    pid: serve.pid!,
    call: () => client.callTool(ECHO),
    stop: async () => {
      await client.close();
      serve.kill('SIGTERM');
      await exited;
    },
  };
}

/** `proxy` in front of server-everything over stdio (a stdio version), launched by an SDK v1 client as its server. */
async function startProxy(checkout: string, dir: string, env: NodeJS.ProcessEnv, out: string): Promise<Measuring> {
  await cli(checkout, dir, ['deploy', 'everything', '1.0.0', '--type', 'stdio', '--command', process.execPath, '--args', EVERYTHING, 'stdio', '--skip-validation']);
  const transport = new StdioClientTransport({ command: 'valgrind', args: [...VALGRIND, `--callgrind-out-file=${out}`, process.execPath, join(checkout, 'dist/src/cli/bin/mcp-rollout.js'), 'proxy', 'everything'], cwd: dir, env: env as Record<string, string>, stderr: 'ignore' });
  const client = new Client({ name: 'instructions-per-call', version: '1.0.0' });
  await client.connect(transport, { timeout: 120_000 });
  const pid = transport.pid!;
  return {
    pid,
    call: () => client.callTool(ECHO),
    stop: async () => {
      await client.close(); // the proxy's stdin ends: it ends its backend and exits
      while (isProcessAlive(pid)) await new Promise((r) => setTimeout(r, 50));
    },
  };
}

/**
 * What the `front` of `checkout` spends: instructions per call over `calls` calls after `warm` uncounted ones,
 * less what it spends meanwhile with no call at all (its timers: registry polls, metrics snapshots, sweeps),
 * counted over `idleMs` after the calls. Under valgrind a call takes milliseconds, so that background work
 * would otherwise weigh on each call many times what it does at full speed.
 */
async function measure(checkout: string, front: Front, warm: number, calls: number, idleMs: number): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-rollout-instructions-'));
  const out = join(dir, 'callgrind.out');
  const env = projectEnv(dir);
  const backend = front === 'router' ? await startEverything() : undefined;
  try {
    const { pid, call, stop } = backend ? await startRouter(checkout, dir, env, out, backend.url) : await startProxy(checkout, dir, env, out);
    for (let i = 0; i < warm; i++) await call();
    const control = (...args: string[]): void => void execFileSync('callgrind_control', [...args, String(pid)], { stdio: 'ignore' });
    control('--zero');
    control('--instr=on');
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await call();
    const callsMs = performance.now() - t0;
    control('--dump=calls');
    await new Promise((r) => setTimeout(r, idleMs));
    control('--dump=idle');
    control('--instr=off');
    await stop();
    // One file per dump and thread: the totals of each dump, of all threads and of the main thread (thread 1).
    const parts = new Map<string, { all: number; main: number }>();
    for (const f of readdirSync(dir).filter((n) => n.startsWith('callgrind.out'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      const [what, thread, total] = [/^desc: Trigger: dump (\w+)$/m.exec(text)?.[1], /^thread: (\d+)$/m.exec(text)?.[1], /^totals: (\d+)$/m.exec(text)?.[1]];
      if (what === undefined || total === undefined) continue;
      const part = parts.get(what) ?? { all: 0, main: 0 };
      part.all += Number(total);
      if (thread === '1') part.main += Number(total);
      parts.set(what, part);
    }
    const [during, idle] = [parts.get('calls'), parts.get('idle')];
    if (during === undefined || idle === undefined) throw new Error(`callgrind wrote no dumps named calls and idle in ${dir}`);
    const net = (d: number, i: number): number => (d - (i / idleMs) * callsMs) / calls;
    return { gross: during.all / calls, idlePerSecond: (idle.all / idleMs) * 1000, net: net(during.all, idle.all), mainNet: net(during.main, idle.main), callMs: callsMs / calls };
  } finally {
    await backend?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// The SDK v1 client adds an abort listener per request to one signal and never removes it: after 1,500 calls
// Node warns on every call. Its own leak, not the router's: said once.
let warned = false;
process.removeAllListeners('warning').on('warning', (w) => {
  if (w.name === 'MaxListenersExceededWarning' && warned) return;
  warned ||= w.name === 'MaxListenersExceededWarning';
  console.error(`${w.name}: ${w.message}${w.name === 'MaxListenersExceededWarning' ? ' (the SDK client; said once)' : ''}`);
});

const { values, positionals } = parseArgs({ allowPositionals: true, options: { front: { type: 'string', default: 'router' }, warm: { type: 'string', default: '3000' }, calls: { type: 'string', default: '2000' }, idle: { type: 'string', default: '10' } } });
const [warm, calls, idleS] = [Number(values.warm), Number(values.calls), Number(values.idle)];
if (!Number.isInteger(warm) || warm < 0 || !Number.isInteger(calls) || calls < 1 || !(idleS > 0)) throw new Error('--warm and --calls take whole numbers (--calls at least 1), --idle seconds above 0');
const front = values.front as Front;
if (front !== 'router' && front !== 'proxy') throw new Error(`--front is router or proxy, not "${values.front}"`);
try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('valgrind is not installed (apt-get install valgrind)');
  process.exit(2);
}
for (const checkout of positionals.length > 0 ? positionals.map((p) => resolve(p)) : [HERE]) {
  const m = await measure(checkout, front, warm, calls, idleS * 1000);
  const k = (n: number): string => `${Math.round(n / 1000)}k`;
  console.log(`${checkout}: ${front}: ${k(m.net)} instructions per forwarded call, ${k(m.mainNet)} on the main thread (${k(m.gross)} counted, less ${k(m.idlePerSecond)}/s of background work over ${m.callMs.toFixed(1)} ms a call; ${calls} calls after ${warm} of warm-up)`);
}
