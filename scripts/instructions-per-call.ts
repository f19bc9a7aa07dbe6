/**
 * The router's CPU per forwarded call, counted in instructions rather than timed: `serve` runs under valgrind's
 * callgrind in front of server-everything (Streamable HTTP), one SDK v1 client calls `echo` in sequence, and only
 * the calls after the warm-up are counted (the JIT has compiled the hot paths by then; its compiling is a cost of
 * the first thousands of calls, not of each). On a shared 2-core machine a timed CPU figure moves by ±10% from
 * run to run; this count moves much less (a few percent, more when the machine is loaded): compare checkouts
 * in one run.
 *
 *   node dist/scripts/instructions-per-call.js [--warm 3000] [--calls 2000] [checkout ...]
 *
 * Each checkout (default: this one) is a directory holding a built mcp-rollout (`dist/`); the backend and the
 * client are this checkout's. Needs valgrind (`apt-get install valgrind`). Under valgrind a call takes about
 * 20 ms: the defaults take about 2.5 minutes per checkout.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort } from '../src/free-port.js';
import { startEverything } from '../test/helpers/everything-http.js';

const HERE = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `checkout`'s CLI to completion in `dir`; rejects naming the command when it fails. */
async function cli(checkout: string, dir: string, args: string[]): Promise<void> {
  const child = spawn(process.execPath, [join(checkout, 'dist/src/cli/bin/mcp-rollout.js'), ...args], { cwd: dir, env: { ...process.env, MCP_ROLLOUT_PROJECT_DIR: dir, XDG_CONFIG_HOME: dir }, stdio: 'ignore' });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`mcp-rollout ${args.join(' ')} exited with ${code} (${checkout})`);
}

/** Instructions the router of `checkout` spends per call, over `calls` calls after `warm` uncounted ones. */
async function measure(checkout: string, warm: number, calls: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-rollout-instructions-'));
  const out = join(dir, 'callgrind.out');
  const backend = await startEverything();
  try {
    await cli(checkout, dir, ['deploy', 'everything', '1.0.0', '--type', 'http', '--url', backend.url, '--skip-validation']);
    const port = await freePort();
    const serve = spawn('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, join(checkout, 'dist/src/cli/bin/mcp-rollout.js'), 'serve', '--port', String(port)], {
      cwd: dir,
      env: { ...process.env, MCP_ROLLOUT_PROJECT_DIR: dir, XDG_CONFIG_HOME: dir },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const exited = once(serve, 'exit');
    await new Promise<void>((ok, fail) => {
      serve.stdout.on('data', (d: Buffer) => d.toString().includes('listening') && ok());
      serve.once('exit', (code) => fail(new Error(`serve under valgrind exited with ${code} before listening (${checkout})`)));
    });
    const client = new Client({ name: 'instructions-per-call', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/everything`)));
    const call = () => client.callTool({ name: 'echo', arguments: { message: 'x' } });
    for (let i = 0; i < warm; i++) await call();
    execFileSync('callgrind_control', ['--instr=on', String(serve.pid)], { stdio: 'ignore' });
    for (let i = 0; i < calls; i++) await call();
    execFileSync('callgrind_control', ['--instr=off', String(serve.pid)], { stdio: 'ignore' });
    await client.close();
    serve.kill('SIGTERM');
    await exited;
    const total = /^totals: (\d+)$/m.exec(readFileSync(out, 'utf8'))?.[1];
    if (total === undefined) throw new Error(`callgrind wrote no totals to ${out}`);
    return Number(total) / calls;
  } finally {
    await backend.stop();
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

const { values, positionals } = parseArgs({ allowPositionals: true, options: { warm: { type: 'string', default: '3000' }, calls: { type: 'string', default: '2000' } } });
const [warm, calls] = [Number(values.warm), Number(values.calls)];
if (!Number.isInteger(warm) || warm < 0 || !Number.isInteger(calls) || calls < 1) throw new Error('--warm and --calls take whole numbers (--calls at least 1)');
try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('valgrind is not installed (apt-get install valgrind)');
  process.exit(2);
}
for (const checkout of positionals.length > 0 ? positionals.map((p) => resolve(p)) : [HERE]) {
  const perCall = await measure(checkout, warm, calls);
  console.log(`${checkout}: ${Math.round(perCall / 1000)}k instructions per forwarded call (${calls} calls after ${warm} of warm-up)`);
}
