/**
 * `npm run bench`: what our code costs, measured against the direct path in the same run.
 * 1. stdio: sequential tools/call echo on server-everything, direct vs. through `mcp-rollout proxy`,
 *    interleaved in rounds; p50, p99, their ratios and added microseconds; the proxy's resident memory.
 *    The same through the proxy in front of an HTTP version (server-everything over Streamable HTTP), direct
 *    being the SDK client's Streamable HTTP transport to that backend.
 * 2. HTTP at 1 and 32 concurrent sessions: server-everything over Streamable HTTP directly, through the
 *    router, through a bare Node.js proxy (http.request and pipe) and through a byte relay (no HTTP work: what
 *    the hop alone costs), both for reference; server-everything
 *    over stdio through the router and through supergateway; p50, p99, req/s. The paths are visited in
 *    interleaved rounds (a rotated order each round), so that drift of a shared machine weighs on all alike.
 *    The HTTP-backend paths once more at 1 session with the proxy held to a core of its own (taskset), for what
 *    the proxy costs when it need not wait for a core that client or backend holds.
 * 3. What 1,000 idle legacy sessions cost the router in memory.
 * 4. Section "store": the time of one registry write (sequential traffic changes through Registry: p50, p99) and
 *    of its propagation to a LiveView in another process (p50, max), on the file store and on PostgreSQL (a
 *    throwaway cluster), side by side (scripts/store-timing.ts, as scripts/store-propagation.ts measures it).
 * Sections "proxy" (1-3) and "store" (4); BENCH_ONLY=store (a comma list) runs only those named.
 * Prints a table and writes bench-results/bench-<time>.json. A script, never a test: machines are noisy.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { Registry } from '../src/registry/registry.js';
import { JsonFileStore } from '../src/state/json-file-store.js';
import { freePort, startEverything } from '../test/helpers/everything-http.js';
import { waitForOutput } from '../test/helpers/output.js';
import { quantile, timeStores } from './store-timing.js';

const EVERYTHING = fileURLToPath(new URL('../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/bin/mcp-rollout.js', import.meta.url));
const BARE_PROXY = fileURLToPath(new URL('./bare-proxy.js', import.meta.url));
const BYTE_RELAY = fileURLToPath(new URL('./byte-relay.js', import.meta.url));
const SUPERGATEWAY = fileURLToPath(new URL('../../node_modules/supergateway/dist/index.js', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 100);
/** Interleaved rounds over the HTTP paths, at each number of sessions. */
const HTTP_ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 6);
/** Calls made on each HTTP path before it is measured. */
const HTTP_WARMUP = Number(process.env.BENCH_HTTP_WARMUP ?? 2000);
/** Registry writes timed on each store, and writes timed to another process's view. */
const STORE_WRITES = Number(process.env.BENCH_STORE_WRITES ?? 200);
const STORE_PROPAGATION = Number(process.env.BENCH_STORE_PROPAGATION ?? 50);

/** What a section prints and what it adds to the results file. */
type Section = { lines: string[]; results: Record<string, unknown> };
const us = (ms: number): string => `${(ms * 1000).toFixed(0)} us`;
const signed = (n: number): string => `${n >= 0 ? '+' : ''}${n.toFixed(1)}`;
/** Lowest and highest of some ratios, as percentages. */
const range = (xs: number[]): string => `${(Math.min(...xs) * 100).toFixed(0)}-${(Math.max(...xs) * 100).toFixed(0)}%`;

async function echoLoop(client: Client, n: number, into: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await client.callTool({ name: 'echo', arguments: { message: 'bench' } });
    into.push(performance.now() - t0);
  }
}

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * Sequential echo calls direct and through `mcp-rollout proxy <server>`, interleaved in rounds. `direct` is the
 * client's own transport to the same backend (stdio for the stdio version, Streamable HTTP for the HTTP one).
 */
async function throughProxy(dir: string, env: NodeJS.ProcessEnv, server: string, direct: Client): Promise<Record<string, number>> {
  const proxyTransport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'proxy', server], cwd: dir, env: env as Record<string, string>, stderr: 'ignore' });
  const proxied = new Client({ name: 'bench', version: '1' });
  await proxied.connect(proxyTransport);
  const a: number[] = [];
  const b: number[] = [];
  await echoLoop(direct, 200, []); // warm both paths up
  await echoLoop(proxied, 200, []);
  for (let r = 0; r < ROUNDS; r++) {
    await echoLoop(direct, PER_ROUND, a);
    await echoLoop(proxied, PER_ROUND, b);
  }
  const proxyRss = await rss(proxyTransport.pid!);
  await direct.close();
  await proxied.close();
  const r = {
    directP50: quantile(a, 0.5), directP99: quantile(a, 0.99),
    proxyP50: quantile(b, 0.5), proxyP99: quantile(b, 0.99),
  };
  return { ...r, addedP50Us: (r.proxyP50 - r.directP50) * 1000, p50Ratio: r.proxyP50 / r.directP50, p99Ratio: r.proxyP99 / r.directP99, proxyRssMiB: proxyRss, samples: a.length };
}

/** One pass of `sessions` concurrent sessions making `perSession` sequential echo calls each. */
async function httpRun(url: string, sessions: number, perSession: number): Promise<{ lat: number[]; secs: number }> {
  const clients = await Promise.all(
    Array.from({ length: sessions }, async () => {
      const c = new Client({ name: 'bench', version: '1' });
      const transport = new StreamableHTTPClientTransport(new URL(url));
      await c.connect(transport);
      await echoLoop(c, 20, []);
      return { c, transport };
    }),
  );
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(clients.map(({ c }) => echoLoop(c, perSession, lat)));
  const secs = (performance.now() - t0) / 1000;
  // Sessions end with DELETE, as a well-behaved client ends them: otherwise every gateway keeps each session's
  // server process until its idle timeout, and the run measures hundreds of idle processes.
  await Promise.all(clients.map(async ({ c, transport }) => {
    await transport.terminateSession();
    await c.close();
  }));
  return { lat, secs };
}

type PathResult = { p50: number; p99: number; rps: number };

/**
 * The paths measured in rounds, each round visiting every path in a rotated order, so that a machine that
 * slows down or speeds up during the run weighs on every path alike. Throughput: calls over time, all rounds.
 * `ratios`: router -> http vs direct, round by round.
 */
async function rounds(paths: [string, string][], sessions: number, per: number): Promise<{ results: Record<string, PathResult>; ratios: number[] }> {
  const acc = new Map(paths.map(([label]) => [label, { lat: [] as number[], secs: 0 }]));
  const ratios: number[] = [];
  for (let round = 0; round < HTTP_ROUNDS; round++) {
    const rps: Record<string, number> = {};
    for (let k = 0; k < paths.length; k++) {
      const [label, url] = paths[(k + round) % paths.length]!;
      const r = await httpRun(url, sessions, per);
      const a = acc.get(label)!;
      a.lat.push(...r.lat);
      a.secs += r.secs;
      rps[label] = r.lat.length / r.secs;
    }
    ratios.push(rps['router -> http']! / rps['direct http']!);
  }
  const results: Record<string, PathResult> = {};
  for (const [label, a] of acc) results[label] = { p50: quantile(a.lat, 0.5), p99: quantile(a.lat, 0.99), rps: a.lat.length / a.secs };
  return { results, ratios };
}

/** The CPUs a process may run on, as taskset lists them ("0,1" or "0-3"); undefined without taskset. */
async function affinity(pid: number): Promise<string | undefined> {
  const out = await promisify(execFile)('taskset', ['-c', '-p', String(pid)]).catch(() => undefined);
  return out && /:\s*(\S+)\s*$/.exec(out.stdout)?.[1];
}

const setAffinity = (pids: number[], cpus: string): Promise<unknown> => Promise.all(pids.map((pid) => promisify(execFile)('taskset', ['-a', '-c', '-p', cpus, String(pid)])));

/**
 * Runs `work` with the `proxy` processes held to one CPU and the `others` to another, then lets every one of them
 * run anywhere again. Undefined (and `work` not run) without taskset or a second CPU.
 */
async function withPlacement<T>(pids: { proxy: number[]; others: number[] }, work: () => Promise<T>): Promise<T | undefined> {
  const all = await affinity(process.pid);
  const cpus = all === undefined ? [] : all.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
  });
  if (cpus.length < 2) {
    process.stdout.write('http, placed: skipped (needs taskset and two CPUs)\n');
    return undefined;
  }
  try {
    await setAffinity(pids.others, String(cpus[0]));
    await setAffinity(pids.proxy, String(cpus[1]));
    return await work();
  } finally {
    await setAffinity([...pids.proxy, ...pids.others], all!);
  }
}

/** Section "proxy": the stdio proxy, the HTTP router and idle sessions (1-3 above). */
async function proxyBench(): Promise<Section> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-rollout-bench-'));
  const env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'xdg') };
  const backend = await startEverything();
  try {
    const registry = new Registry(JsonFileStore.forEnvironment({ cwd: dir, env }));
    await registry.deploy('everything', { version: '1.0.0', transport: { type: 'stdio', command: process.execPath, args: [EVERYTHING, 'stdio'], env: {} } });
    await registry.deploy('everything-http', { version: '1.0.0', transport: { type: 'http', url: backend.url, headers: {} } });

    process.stdout.write(`stdio: ${ROUNDS} rounds of ${PER_ROUND} sequential echo calls, direct and through the proxy, interleaved\n`);
    const directStdio = new Client({ name: 'bench', version: '1' });
    await directStdio.connect(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING, 'stdio'], stderr: 'ignore' }));
    const stdio = await throughProxy(dir, env, 'everything', directStdio);
    process.stdout.write(`proxy -> http: the same, with server-everything over Streamable HTTP as the backend\n`);
    const directHttp = new Client({ name: 'bench', version: '1' });
    await directHttp.connect(new StreamableHTTPClientTransport(new URL(backend.url)));
    const proxyHttp = await throughProxy(dir, env, 'everything-http', directHttp);
    // The router runs as its own process (as deployed), not inside this client's event loop.
    const port = await freePort();
    const router = spawn(process.execPath, [CLI, 'serve', '--port', String(port)], { cwd: dir, env, stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve, reject) => {
      router.stdout!.once('data', () => resolve());
      router.once('exit', (c) => reject(new Error(`the router exited with ${c}`)));
    });
    // supergateway in front of the same stdio server, stateful (a process per session, like our router).
    const sgPort = await freePort();
    const gateway = spawn(process.execPath, [SUPERGATEWAY, '--stdio', `${process.execPath} ${EVERYTHING} stdio`, '--outputTransport', 'streamableHttp', '--stateful', '--port', String(sgPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitForOutput(gateway, /listening|port/i);
    const reference = async (script: string): Promise<{ port: number; child: ReturnType<typeof spawn> }> => {
      const p = await freePort();
      const child = spawn(process.execPath, [script, backend.url, String(p)], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
      return { port: p, child };
    };
    const bare = await reference(BARE_PROXY);
    const relay = await reference(BYTE_RELAY);
    const backendPath = new URL(backend.url).pathname;
    await new Promise((r) => setTimeout(r, 500));
    const http: Record<string, PathResult> = {};
    const paths: [string, string][] = [
      ['direct http', backend.url],
      ['router -> http', `http://127.0.0.1:${port}/mcp/everything-http`],
      ['bare node proxy -> http', `http://127.0.0.1:${bare.port}${backendPath}`],
      ['byte relay -> http', `http://127.0.0.1:${relay.port}${backendPath}`],
      ['router -> stdio', `http://127.0.0.1:${port}/mcp/everything`],
      ['supergateway -> stdio', `http://127.0.0.1:${sgPort}/mcp`],
    ];
    const spread: Record<string, number[]> = {}; // per-round throughput of router -> http vs direct, by sessions
    for (const [sessions, per] of [[1, 150], [32, 20]] as const) {
      process.stdout.write(`http: ${HTTP_ROUNDS} rounds of ${sessions} session(s) x ${per} echo calls on each path, interleaved, after ${HTTP_WARMUP} calls of warm-up\n`);
      // Warm-up: a router runs for days, so what counts is its steady state, after the JIT has compiled its hot
      // paths (it keeps compiling for the first couple of thousand calls). Every path gets the same warm-up, in
      // sessions of at most 200 calls, so that no path is measured after a session longer than the measured ones.
      const warmPerSession = Math.min(200, Math.ceil(HTTP_WARMUP / sessions));
      for (const [, url] of paths) for (let done = 0; done < HTTP_WARMUP; done += sessions * warmPerSession) await httpRun(url, sessions, warmPerSession);
      const m = await rounds(paths, sessions, per);
      spread[sessions] = m.ratios;
      for (const [label, r] of Object.entries(m.results)) http[`${label} @${sessions}`] = r;
    }

    // Placement: on a machine this small, client, backend and proxy share two cores, and where the kernel puts
    // each process weighs on a proxied call as much as the proxy's own work. Measured again at 1 session with the
    // proxy on a core of its own and client and backend on the other, the paths show what the proxy costs when it
    // does not wait for a core.
    const placed = await withPlacement({ proxy: [router.pid!, bare.child.pid!, relay.child.pid!], others: [process.pid, backend.child.pid!] }, async () => {
      process.stdout.write(`http, placed: ${HTTP_ROUNDS} rounds of 1 session x 150 echo calls on each HTTP-backend path, the proxy on a core of its own\n`);
      return rounds(paths.filter(([label]) => label.endsWith('-> http') || label === 'direct http'), 1, 150);
    });
    gateway.kill('SIGTERM');
    bare.child.kill('SIGTERM');
    relay.child.kill('SIGTERM');

    // 1,000 idle legacy sessions on the HTTP backend: what each costs the router.
    const heap = async (): Promise<number> => Number(/^nodejs_heap_used_bytes (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1] ?? NaN) / 1024;
    await new Promise((r) => setTimeout(r, 1500));
    const before = await rss(router.pid!);
    const heapBefore = await heap();
    for (let i = 0; i < 1000; i++) {
      await fetch(`http://127.0.0.1:${port}/mcp/everything-http`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'idle', version: '1' } } }),
      }).then((r) => r.text());
    }
    await new Promise((r) => setTimeout(r, 1500));
    const perSessionKiB = ((await rss(router.pid!)) - before) * 1024 / 1000;
    const heapPerSessionKiB = ((await heap()) - heapBefore) / 1000;
    const routerRss = await rss(router.pid!);
    router.kill('SIGTERM');
    const ratio = (a: string, b: string): number => http[a]!.p50 / http[b]!.p50;
    const throughput = (path: string): string =>
      `${((http[`${path} @1`]!.rps / http['direct http @1']!.rps) * 100).toFixed(0)}% at 1 session, ${((http[`${path} @32`]!.rps / http['direct http @32']!.rps) * 100).toFixed(0)}% at 32`;

    const placedRatio = (m: { results: Record<string, PathResult> }, path: string): string => `${((m.results[path]!.rps / m.results['direct http']!.rps) * 100).toFixed(0)}%`;
    const lines = [
      '',
      'stdio (sequential tools/call echo)     p50        p99',
      `  direct                            ${us(stdio.directP50!).padStart(8)}  ${us(stdio.directP99!).padStart(8)}`,
      `  through mcp-rollout proxy         ${us(stdio.proxyP50!).padStart(8)}  ${us(stdio.proxyP99!).padStart(8)}`,
      `  added at p50: ${stdio.addedP50Us!.toFixed(0)} us (target <= 50); p50 ratio ${stdio.p50Ratio!.toFixed(2)}, p99 ratio ${stdio.p99Ratio!.toFixed(2)} (target < 1.5); proxy RSS ${stdio.proxyRssMiB!.toFixed(1)} MiB`,
      '',
      'proxy -> http (the stdio proxy in front of an HTTP version)   p50        p99',
      `  direct (Streamable HTTP client)   ${us(proxyHttp.directP50!).padStart(8)}  ${us(proxyHttp.directP99!).padStart(8)}`,
      `  through mcp-rollout proxy         ${us(proxyHttp.proxyP50!).padStart(8)}  ${us(proxyHttp.proxyP99!).padStart(8)}`,
      `  added at p50: ${proxyHttp.addedP50Us!.toFixed(0)} us; p50 ratio ${proxyHttp.p50Ratio!.toFixed(2)}, p99 ratio ${proxyHttp.p99Ratio!.toFixed(2)}; proxy RSS ${proxyHttp.proxyRssMiB!.toFixed(1)} MiB`,
      '',
      'http (sequential echo per session)        p50        p99      req/s',
      ...Object.entries(http).map(([k, v]) => `  ${k.padEnd(30)} ${us(v.p50).padStart(9)} ${us(v.p99).padStart(9)} ${v.rps.toFixed(0).padStart(9)}`),
      `  router -> http throughput vs direct: ${((http['router -> http @1']!.rps / http['direct http @1']!.rps) * 100).toFixed(0)}% at 1 session (rounds ${range(spread[1]!)}), ${((http['router -> http @32']!.rps / http['direct http @32']!.rps) * 100).toFixed(0)}% at 32 (rounds ${range(spread[32]!)}) (target >= 85%)`,
      `  bare node proxy -> http throughput vs direct (http.request and pipe): ${throughput('bare node proxy -> http')}`,
      `  byte relay -> http throughput vs direct (the hop alone, no HTTP work): ${throughput('byte relay -> http')}`,
      placed === undefined
        ? '  placed: not measured'
        : `  placed (the proxy on a core of its own; client and backend on the other), 1 session, throughput vs direct: router ${placedRatio(placed, 'router -> http')} (rounds ${range(placed.ratios)}), bare node proxy ${placedRatio(placed, 'bare node proxy -> http')}, byte relay ${placedRatio(placed, 'byte relay -> http')}`,
      `  router -> stdio p50 vs supergateway -> stdio: ${(100 - ratio('router -> stdio @1', 'supergateway -> stdio @1') * 100).toFixed(0)}% faster at 1 session, ${(100 - ratio('router -> stdio @32', 'supergateway -> stdio @32') * 100).toFixed(0)}% at 32 (target >= 25%)`,
      `  router RSS ${routerRss.toFixed(1)} MiB; 1,000 idle legacy sessions: RSS ${signed(perSessionKiB)} KiB, heap ${signed(heapPerSessionKiB)} KiB per session, so ${Math.max(perSessionKiB, heapPerSessionKiB) < 1 ? 'under 1 KiB (below what the garbage collector moves)' : `at most ${Math.max(perSessionKiB, heapPerSessionKiB).toFixed(1)} KiB`} each (target <= 64)`,
    ];
    return { lines, results: { stdio, proxyHttp, http, routerHttpRatioByRound: spread, placed: placed ?? null, idleSessionKiB: perSessionKiB, idleSessionHeapKiB: heapPerSessionKiB } };
  } finally {
    await backend.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Section "store": one registry write and its propagation to another process, file and PostgreSQL (4 above). */
async function storeBench(): Promise<Section> {
  process.stdout.write(`store: ${STORE_WRITES} sequential traffic changes (after 20 unmeasured), then ${STORE_PROPAGATION} more each timed to another process's LiveView, on the file store and on PostgreSQL\n`);
  const timings = await timeStores({ writes: STORE_WRITES, propagationWrites: STORE_PROPAGATION });
  const rows = timings.map((t) => ({
    label: t.label,
    writeP50: quantile(t.writeMs, 0.5),
    writeP99: quantile(t.writeMs, 0.99),
    propagationP50: quantile(t.propagationMs, 0.5),
    propagationMax: Math.max(...t.propagationMs),
  }));
  const ms = (n: number): string => `${n.toFixed(2)} ms`.padStart(10);
  const lines = [
    '',
    'store (traffic change through Registry)  write p50  write p99  propagation p50  propagation max',
    ...rows.map((r) => `  ${r.label.padEnd(36)} ${ms(r.writeP50)} ${ms(r.writeP99)} ${ms(r.propagationP50).padStart(16)} ${ms(r.propagationMax).padStart(16)}`),
  ];
  return { lines, results: { writes: STORE_WRITES, propagationWrites: STORE_PROPAGATION, rows, samples: timings } };
}

const sections: Record<string, () => Promise<Section>> = { proxy: proxyBench, store: storeBench };
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter((s) => s !== '');
const unknown = (only ?? []).filter((name) => !(name in sections));
if (unknown.length > 0) throw new Error(`BENCH_ONLY names no section "${unknown.join('", "')}" (sections: ${Object.keys(sections).join(', ')})`);
const chosen = only ?? Object.keys(sections);
const results: Record<string, unknown> = {};
const lines: string[] = [];
for (const name of chosen) {
  const s = await sections[name]!();
  results[name] = s.results;
  lines.push(...s.lines);
}
process.stdout.write(lines.join('\n') + '\n');
await mkdir('bench-results', { recursive: true });
const file = join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
// The proxy section's figures stay at the top level, where earlier results files have them.
const { proxy, ...rest } = results;
await writeFile(file, JSON.stringify({ at: new Date().toISOString(), node: process.version, sections: chosen, ...(proxy as object | undefined), ...rest }, null, 2) + '\n');
process.stdout.write(`\nwrote ${file}\n`);
