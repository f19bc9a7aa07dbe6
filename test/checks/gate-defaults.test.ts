/**
 * The validation gate with its default options, against real servers: the reference servers published on npm
 * pass (server-everything, whose read-only `trigger-long-running-operation` runs 10 s, was refused before:
 * its call timed out at 5 s and the abandoned call kept it from exiting), and so does a server that exits only
 * on SIGTERM, as the MCP stdio shutdown allows. Servers that ignore SIGTERM, crash, never answer or hide their
 * tool errors are still refused, each with its reason. Every server process is reaped.
 */
import { strict as assert } from 'node:assert';
import { childProcesses } from '../helpers/processes.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_VALIDATION, validateTransport, type ValidationReport } from '../../src/checks/validate.js';
import type { Transport } from '../../src/domain/types.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const GATE = join(REPO, 'test', 'fixtures', 'servers', 'gate-server.mjs');
const WEATHER = join(REPO, 'examples', 'weather-server.mjs');
const npmServer = (name: string): string => join(REPO, 'node_modules', '@modelcontextprotocol', `server-${name}`, 'dist', 'index.js');
const stdio = (file: string, args: string[] = [], env: Record<string, string> = {}): Transport => ({ type: 'stdio', command: process.execPath, args: [file, ...args], env });
const lines = (r: ValidationReport): string[] => r.checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'} ${c.check}`);
const check = (r: ValidationReport, name: string) => r.checks.find((c) => c.check === name) ?? assert.fail(`no ${name} check in ${JSON.stringify(r.checks)}`);
const ALL_PASS = ['PASS handshake', 'PASS discovery', 'PASS tool-calls', 'PASS error-handling', 'PASS latency', 'PASS shutdown'];

describe('the gate with default options passes well-behaved servers', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gate-defaults-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('server-everything: its 10 s read-only tool gets its call deadline (30 s), and it exits once stdin closes', async () => {
    const r = await validateTransport(stdio(npmServer('everything'), ['stdio']));
    assert.deepEqual(lines(r), ALL_PASS, JSON.stringify(r.checks, null, 2));
    assert.match(check(r, 'tool-calls').message, /^\d+ call\(s\) from the read-only tools succeeded$/);
    assert.ok(r.contract!.tools.some((t) => t.name === 'trigger-long-running-operation'), 'the long-running tool was among those called');
    assert.match(check(r, 'latency').message, /over 20 requests \(ping, tools\/list; limits 100 ms \/ 1000 ms\)$/);
    assert.match(check(r, 'shutdown').message, /^exited [\d.]+ ms after stdin closed$/);
  });

  it('server-memory, server-filesystem (given a directory) and server-sequential-thinking', async () => {
    const servers: [string, Transport][] = [
      ['memory', stdio(npmServer('memory'), [], { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') })],
      ['filesystem', stdio(npmServer('filesystem'), [dir])],
      ['sequential-thinking', stdio(npmServer('sequential-thinking'))],
    ];
    for (const [name, t] of servers) {
      const r = await validateTransport(t);
      assert.deepEqual(lines(r), ALL_PASS, `${name}: ${JSON.stringify(r.checks, null, 2)}`);
    }
  });

  it('a server that keeps running after stdin closes and exits on SIGTERM passes, and the line says SIGTERM ended it', async () => {
    const before = childProcesses();
    const r = await validateTransport(stdio(GATE, ['sigterm-only']));
    assert.deepEqual(lines(r), ALL_PASS, JSON.stringify(r.checks, null, 2));
    assert.equal(check(r, 'shutdown').message, 'exited on SIGTERM after stdin close was ignored for 2 s');
    assert.match(check(r, 'shutdown').details.join('\n'), /^exited [\d.]+ ms after SIGTERM \(exit code 0\)$/);
    // The example's "linger" variant keeps Node's default SIGTERM action: ended by the signal itself.
    const linger = await validateTransport(stdio(WEATHER, ['linger']));
    assert.equal(linger.ok, true, JSON.stringify(linger.checks, null, 2));
    assert.match(check(linger, 'shutdown').details.join('\n'), /after SIGTERM \(signal SIGTERM\)$/);
    assert.deepEqual(childProcesses(), before);
  });
});

describe('the gate with default options still refuses misbehaving servers, with the reason', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gate-refuses-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('a server that ignores SIGTERM fails shutdown: it needed SIGKILL, and no process is left', async () => {
    const before = childProcesses();
    const r = await validateTransport(stdio(GATE, ['stubborn']));
    assert.deepEqual(lines(r), ['PASS handshake', 'PASS discovery', 'PASS tool-calls', 'PASS error-handling', 'PASS latency', 'FAIL shutdown']);
    assert.equal(check(r, 'shutdown').message, 'ignored stdin close and SIGTERM (2 s each); it had to be killed with SIGKILL');
    assert.deepEqual(childProcesses(), before);
  });

  it('a server that crashes at start fails the handshake; one that crashes in a call fails the call and shutdown', async () => {
    const atStart = await validateTransport(stdio(WEATHER, ['crash']));
    assert.deepEqual(lines(atStart), ['FAIL handshake']);
    assert.match(check(atStart, 'handshake').message, /closed the connection before the handshake; stderr: weather-server: cannot open database/);
    const inCall = await validateTransport(stdio(GATE, ['crash-call']));
    assert.equal(check(inCall, 'tool-calls').ok, false);
    assert.match(check(inCall, 'tool-calls').details.join('\n'), /^status: /);
    assert.equal(check(inCall, 'shutdown').message, 'the server had already exited (exit code 5) before shutdown began');
  });

  it('a server that never answers fails by the handshake deadline', async () => {
    const r = await validateTransport(stdio(WEATHER, ['stall']), { ...DEFAULT_VALIDATION, handshakeTimeoutMs: 1500 });
    assert.deepEqual(lines(r), ['FAIL handshake']);
    assert.match(check(r, 'handshake').message, /^no answer to initialize within 1500 ms/);
  });

  it('a call that never answers fails at the call deadline and is cancelled; the server then still serves', async () => {
    const log = join(dir, 'cancelled.log');
    const r = await validateTransport(stdio(GATE, ['hang'], { CANCEL_LOG: log }), { ...DEFAULT_VALIDATION, callTimeoutMs: 500 });
    assert.equal(check(r, 'tool-calls').ok, false);
    assert.deepEqual(check(r, 'tool-calls').details, ['wait: no answer within 0.5 s (--call-timeout); the call was cancelled']);
    assert.equal(check(r, 'error-handling').ok, true, 'it answers the calls after the cancelled one');
    assert.match(await readFile(log, 'utf8'), /^cancelled \d+\n$/, 'the server received notifications/cancelled for the call');
  });

  it('a server that answers an unknown tool and missing arguments with normal results fails error handling', async () => {
    const r = await validateTransport(stdio(GATE, ['lax']));
    assert.equal(r.ok, false);
    assert.equal(
      check(r, 'error-handling').message,
      'unknown tool: answered with a normal result instead of an error; tool "lookup" without its required arguments: answered with a normal result instead of an error',
    );
  });

  it('a server that takes 300 ms for every tools/list fails the latency check (ping alone is fast)', async () => {
    const r = await validateTransport(stdio(GATE, ['slow-list']));
    assert.deepEqual(lines(r), ['PASS handshake', 'PASS discovery', 'PASS tool-calls', 'PASS error-handling', 'FAIL latency', 'PASS shutdown']);
    assert.match(check(r, 'latency').message, /^average [\d.]+ ms, maximum [\d.]+ ms over 20 requests \(ping, tools\/list; limits 100 ms \/ 1000 ms\)$/);
  });
});
