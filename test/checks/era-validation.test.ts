/**
 * Validation finds each server's protocol era the way a dual-era client does: `server/discover` first, then
 * `initialize` for legacy servers. Real processes throughout: the v2 SDK fixture (dual-era and modern-only, on
 * stdio and HTTP), the v1 example server, server-everything, a server that stalls, and an HTTP endpoint that
 * never answers.
 */
import { strict as assert } from 'node:assert';
import { childProcesses } from '../helpers/processes.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { connectVersion } from '../../src/checks/connect-version.js';
import type { SmokeCall } from '../../src/checks/smoke-file.js';
import { DEFAULT_VALIDATION, validateTransport, type ValidationOptions, type ValidationReport } from '../../src/checks/validate.js';
import { probeVersion } from '../../src/pipeline/health-probe.js';
import type { Transport } from '../../src/domain/types.js';
import { EVERYTHING, freePort } from '../helpers/everything-http.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const MODERN = join(REPO, 'test', 'fixtures', 'servers', 'modern-server.mjs');
const WEATHER = join(REPO, 'examples', 'weather-server.mjs');

// Other tests share the 2 cores, and these tests are about eras, not speed: the latency limits are out of the way
// (the latency check itself is tested with a server that is slow on purpose, in the validation gate tests).
const OPTS: ValidationOptions = { ...DEFAULT_VALIDATION, maxAvgLatencyMs: 60_000, maxLatencyMs: 60_000 };
const smoke = (tool: string, args: Record<string, unknown>, text: string): SmokeCall[] => [{ tool, arguments: args, expect: { isError: false, text, json: [] } }];
const ECHO_SMOKE = smoke('echo', { text: 'hi' }, 'modern echo: hi');
const stdio = (file: string, ...args: string[]): Transport => ({ type: 'stdio', command: process.execPath, args: [file, ...args], env: {} });
const lines = (r: ValidationReport): string[] => r.checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'} ${c.check}`);
const message = (r: ValidationReport, check: string): string => r.checks.find((c) => c.check === check)?.message ?? `(no ${check} check)`;

describe('era-aware validation over stdio', () => {
  it('the modern-only fixture really refuses initialize (so a legacy handshake cannot pass it)', async () => {
    const client = new Client({ name: 'legacy-only', version: '0' }); // default: legacy mode, initialize only
    await assert.rejects(client.connect(new StdioClientTransport({ command: process.execPath, args: [MODERN, '--modern-only'] })), /Unsupported protocol version/);
    await client.close();
  });

  it('a modern-only server passes every check, with server/discover as its handshake', async () => {
    const r = await validateTransport(stdio(MODERN, '--modern-only'), { ...OPTS, smoke: ECHO_SMOKE });
    assert.deepEqual(lines(r), ['PASS handshake', 'PASS discovery', 'PASS tool-calls', 'PASS error-handling', 'PASS latency', 'PASS shutdown'], JSON.stringify(r.checks, null, 2));
    assert.equal(r.era, 'modern');
    assert.match(message(r, 'handshake'), /^server\/discover answered in [\d.]+ ms: 2026-07-28 \(server modern 1\.0\.0\)$/);
    assert.equal(message(r, 'discovery'), '5 tools, 0 prompts, 0 resources, 0 resource templates');
    assert.equal(message(r, 'tool-calls'), '1 call(s) from the smoke file succeeded');
    // The unknown tool and the tool without its required argument were answered with errors over 2026-07-28.
    assert.match(r.checks.find((c) => c.check === 'error-handling')!.details.join('\n'), /unknown tool: .*not found[\s\S]*tool "echo" without its required arguments: /);
    assert.match(message(r, 'shutdown'), /^exited [\d.]+ ms after stdin closed$/);
    assert.deepEqual(r.contract!.tools.map((t) => t.name).sort(), ['confirm', 'count', 'echo', 'grow', 'wait']);
  });

  it('a wrong smoke expectation still fails on a modern server (the calls really go to it)', async () => {
    const r = await validateTransport(stdio(MODERN, '--modern-only'), { ...OPTS, smoke: smoke('echo', { text: 'hi' }, 'bye') });
    assert.equal(r.ok, false);
    assert.equal(message(r, 'tool-calls'), '1 of 1 call(s) from the smoke file failed');
    assert.deepEqual(r.checks.find((c) => c.check === 'tool-calls')!.details, ['echo: text "modern echo: hi" does not match "bye"']);
  });

  it('a dual-era server is validated over 2026-07-28 (discover is tried first)', async () => {
    const r = await validateTransport(stdio(MODERN), { ...OPTS, smoke: ECHO_SMOKE });
    assert.equal(r.ok, true, JSON.stringify(r.checks, null, 2));
    assert.equal(r.era, 'modern');
    assert.match(message(r, 'handshake'), /^server\/discover answered in [\d.]+ ms: 2026-07-28 \(server modern 1\.0\.0\)$/);
  });

  it('a legacy-only v1 server still passes through initialize, as before', async () => {
    const r = await validateTransport(stdio(WEATHER, 'v1'), OPTS);
    assert.deepEqual(lines(r), ['PASS handshake', 'PASS discovery', 'PASS tool-calls', 'PASS error-handling', 'PASS latency', 'PASS shutdown'], JSON.stringify(r.checks, null, 2));
    assert.equal(r.era, 'legacy');
    assert.match(message(r, 'handshake'), /^initialized in [\d.]+ ms \(server weather v1\)$/);
    assert.equal(message(r, 'tool-calls'), '1 call(s) from the read-only tools succeeded');
  });

  it('server-everything (legacy) passes through initialize with a smoke file', async () => {
    const r = await validateTransport(stdio(EVERYTHING, 'stdio'), {
      ...OPTS, smoke: smoke('echo', { message: 'hello' }, 'Echo: hello'),
    });
    assert.equal(r.ok, true, JSON.stringify(r.checks, null, 2));
    assert.equal(r.era, 'legacy');
    assert.match(message(r, 'handshake'), /^initialized in [\d.]+ ms \(server mcp-servers\/everything /);
  });

  it('a server that stalls fails by the handshake deadline, says what went unanswered, and leaves no process behind', async () => {
    const before = childProcesses();
    const r = await validateTransport(stdio(WEATHER, 'stall'), { ...OPTS, handshakeTimeoutMs: 1500 });
    assert.deepEqual(lines(r), ['FAIL handshake']);
    assert.equal(message(r, 'handshake'), 'no answer to initialize within 1500 ms (server/discover gave no modern answer before it)');
    assert.deepEqual(childProcesses(), before, 'the probe sibling and the server were both reaped');
  });

  it('the health probe works on a modern-only server, and on a legacy one', async () => {
    assert.deepEqual(await probeVersion({ version: '1.0.0', ...stdio(MODERN, '--modern-only') } as Parameters<typeof probeVersion>[0], 5000), { healthy: true, message: 'server/discover and tools/list answered' });
    assert.deepEqual(await probeVersion({ version: '1.0.0', ...stdio(WEATHER, 'v1') } as Parameters<typeof probeVersion>[0], 5000), { healthy: true, message: 'handshake and tools/list answered' });
  });

  it('health probes remember a version\'s era: later probes start the server once, with no discover probe', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'probe-era-'));
    const log = join(dir, 'starts');
    // Each start of the server appends a line to the log, then becomes the server.
    const record = { version: '1.0.0', type: 'stdio' as const, command: 'sh', args: ['-c', `echo start >> '${log}'; exec '${process.execPath}' '${WEATHER}' v1`], env: {} };
    const starts = async (): Promise<number> => (await readFile(log, 'utf8')).split('\n').filter(Boolean).length;
    try {
      assert.equal((await probeVersion(record as Parameters<typeof probeVersion>[0], 5000)).healthy, true);
      assert.equal(await starts(), 2, 'the first probe starts a discover probe and then the server');
      assert.equal((await probeVersion(record as Parameters<typeof probeVersion>[0], 5000)).healthy, true);
      assert.equal(await starts(), 3, 'the second probe starts the server once');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('era-aware validation over HTTP', () => {
  const started: ChildProcess[] = [];
  const silent: Server[] = [];
  after(async () => {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    for (const s of silent) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });
  /** Starts `args` and resolves with the port it prints (`portLine` finds it in the output). */
  const listen = (args: string[], portLine: RegExp): Promise<number> => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = portLine.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${out}`)));
    });
  };
  const http = (port: number): Transport => ({ type: 'http', url: `http://127.0.0.1:${port}/mcp`, headers: {} });

  it('a modern-only HTTP server passes every check over 2026-07-28, with no session to end', async () => {
    const port = await listen([MODERN, '--http', '--modern-only'], /^(\d+)\n/);
    const r = await validateTransport(http(port), { ...OPTS, smoke: ECHO_SMOKE });
    assert.deepEqual(lines(r), ['PASS handshake', 'PASS discovery', 'PASS tool-calls', 'PASS error-handling', 'PASS latency', 'PASS shutdown'], JSON.stringify(r.checks, null, 2));
    assert.equal(r.era, 'modern');
    assert.match(message(r, 'handshake'), /^server\/discover answered in [\d.]+ ms: 2026-07-28 \(server modern 1\.0\.0\)$/);
    assert.match(message(r, 'shutdown'), /^closed in [\d.]+ ms \(2026-07-28: no session to end\)$/);
  });

  it('a dual-era HTTP server is validated over 2026-07-28', async () => {
    const port = await listen([MODERN, '--http'], /^(\d+)\n/);
    const conn = await connectVersion(http(port), 5000);
    try {
      assert.deepEqual({ era: conn.era, protocolVersion: conn.protocolVersion, supported: conn.supportedVersions }, { era: 'modern', protocolVersion: '2026-07-28', supported: ['2026-07-28'] });
    } finally {
      await conn.client.close();
    }
  });

  it('a legacy-only HTTP server (400 "Server not initialized" to discover) passes through initialize and a session', async () => {
    const port = await freePort();
    await listen([WEATHER, 'v1', '--http', String(port)], /listening on port (\d+)/);
    const r = await validateTransport(http(port), OPTS);
    assert.equal(r.ok, true, JSON.stringify(r.checks, null, 2));
    assert.equal(r.era, 'legacy');
    assert.match(message(r, 'handshake'), /^initialized in [\d.]+ ms \(server weather v1\)$/);
    assert.match(message(r, 'shutdown'), /^session ended in [\d.]+ ms$/);
  });

  it('an HTTP endpoint that never answers fails by the deadline', async () => {
    const s = createServer(() => undefined); // accepts every request, answers none
    silent.push(s);
    const port = await new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
    const r = await validateTransport(http(port), { ...OPTS, handshakeTimeoutMs: 1000 });
    assert.deepEqual(lines(r), ['FAIL handshake']);
    assert.equal(message(r, 'handshake'), 'no answer to server/discover within 1000 ms');
  });
});
