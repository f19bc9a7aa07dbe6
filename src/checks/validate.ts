/**
 * The validation suite: start (or reach) a version and check that it is fit for traffic. Every step has a
 * deadline, so a stalling server fails by the deadline and never hangs the validator.
 *   handshake, discovery, tool-calls, error-handling, latency, contract (against the stable version), shutdown
 * The handshake is the one of the server's era: `server/discover` for 2026-07-28 servers, `initialize` for
 * legacy ones (see connect-version); every later check runs over the era found.
 * Tool calls are judged by their outcome within their own deadline (`callTimeoutMs`); latency limits apply to
 * protocol requests, which a server answers without doing a tool's work, and to smoke calls.
 */
import { ProtocolError, SdkError, SdkErrorCode, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { diffContracts, type Contract, type ContractDiff } from '../domain/contract-diff.js';
import type { Transport } from '../domain/types.js';
import { connectVersion, type Connection } from './connect-version.js';
import { discoverContract } from './discover-contract.js';
import { checkExpectations, type SmokeCall } from './smoke-file.js';
import { childOf, shutDownStdio } from './stdio-shutdown.js';
import { DEFAULT_VALIDATION, type CheckName, type CheckResult, type ValidationOptions, type ValidationReport } from './validation-spec.js';

export * from './validation-spec.js';

const LATENCY_SAMPLES = 10;
const ms = (n: number): string => `${Math.round(n * 10) / 10} ms`;
const seconds = (n: number): string => `${Math.round(n / 100) / 10} s`;
// The SDK repeats its "MCP error -32602: " prefix when it rethrows; say it once.
const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/^(MCP error -?\d+: )\1+/, '$1');
const isTimeout = (e: unknown): boolean => e instanceof SdkError && e.code === SdkErrorCode.RequestTimeout;

/** Runs every check against the version reachable through `t`. Never throws for a bad server. */
export async function validateTransport(t: Transport, opts: ValidationOptions = DEFAULT_VALIDATION): Promise<ValidationReport> {
  const checks: CheckResult[] = [];
  const add = (check: CheckName, ok: boolean, message: string, details: string[] = []): void => void checks.push({ check, ok, message, details });
  let conn: Connection;
  const started = performance.now();
  try {
    conn = await connectVersion(t, opts.handshakeTimeoutMs, 'mcp-rollout-validate');
  } catch (e) {
    add('handshake', false, errText(e));
    return { ok: false, checks };
  }
  const info = conn.client.getServerVersion();
  const took = ms(performance.now() - started);
  const server = `(server ${info?.name ?? '?'} ${info?.version ?? '?'})`;
  if (conn.era === 'modern') add('handshake', true, `server/discover answered in ${took}: ${(conn.supportedVersions ?? [conn.protocolVersion]).join(', ')} ${server}`);
  else add('handshake', true, `initialized in ${took} ${server}`);

  let contract: Contract | undefined;
  try {
    contract = await discoverContract(conn.client, opts.requestTimeoutMs);
    add('discovery', true, `${contract.tools.length} tools, ${contract.prompts.length} prompts, ${contract.resources.length} resources, ${contract.resourceTemplates.length} resource templates`);
  } catch (e) {
    add('discovery', false, `listing failed: ${errText(e)}`);
  }
  const tools = contract?.tools ?? [];
  const smokeTimes = await toolCalls(conn, tools, opts, add);
  await errorHandling(conn, tools, opts, add);
  // Discovery ran first and warmed the server up, so every sampled request counts.
  await latency(conn, opts, smokeTimes, add);

  let diff: ContractDiff | undefined;
  if (opts.stable && contract) {
    diff = diffContracts(opts.stable.contract, contract);
    const lines = [...diff.breaking.map((c) => `breaking: ${c.message}`), ...diff.additive.map((c) => `additive: ${c.message}`)];
    const summary = `${diff.breaking.length} breaking, ${diff.additive.length} additive change(s) against ${opts.stable.version}`;
    if (diff.breaking.length === 0) add('contract', true, summary, lines);
    else add('contract', opts.allowBreaking, `${summary}${opts.allowBreaking ? ' (allowed by --allow-breaking)' : ' (--allow-breaking to accept)'}`, lines);
  }

  await shutdown(conn, opts, add);
  return { ok: checks.every((c) => c.ok), checks, era: conn.era, ...(contract ? { contract } : {}), ...(diff ? { diff } : {}) };
}

type Add = (check: CheckName, ok: boolean, message: string, details?: string[]) => void;
type Tool = Contract['tools'][number] & { annotations?: { readOnlyHint?: boolean } };

const requiredArgs = (tool: Tool): string[] => {
  const s = tool.inputSchema as { required?: unknown } | undefined;
  return Array.isArray(s?.required) ? s.required.filter((x): x is string => typeof x === 'string') : [];
};

/** How long a smoke call took against the limit it is held to. */
interface SmokeTime {
  tool: string;
  tookMs: number;
  limitMs: number;
}

/**
 * The smoke file's calls, else every read-only tool without required arguments; each within `callTimeoutMs`
 * (the SDK cancels a call it gives up on with `notifications/cancelled`). Returns the smoke calls' timings.
 */
async function toolCalls(conn: Connection, tools: Tool[], opts: ValidationOptions, add: Add): Promise<SmokeTime[]> {
  const calls: SmokeCall[] =
    opts.smoke ??
    tools
      .filter((t) => t.annotations?.readOnlyHint === true && requiredArgs(t).length === 0)
      .map((t) => ({ tool: t.name, arguments: {}, expect: { isError: false, json: [] } }));
  if (calls.length === 0) {
    add('tool-calls', true, 'no smoke file and no read-only tool without required arguments: nothing to call');
    return [];
  }
  const problems: string[] = [];
  const times: SmokeTime[] = [];
  for (const call of calls) {
    const t0 = performance.now();
    try {
      const result = await conn.client.callTool({ name: call.tool, arguments: call.arguments }, { timeout: opts.callTimeoutMs });
      if (opts.smoke) times.push({ tool: call.tool, tookMs: performance.now() - t0, limitMs: call.maxLatencyMs ?? opts.maxLatencyMs });
      for (const p of checkExpectations(call, result as Parameters<typeof checkExpectations>[1])) problems.push(`${call.tool}: ${p}`);
    } catch (e) {
      problems.push(`${call.tool}: ${isTimeout(e) ? `no answer within ${seconds(opts.callTimeoutMs)} (--call-timeout); the call was cancelled` : errText(e)}`);
    }
  }
  const source = opts.smoke ? 'smoke file' : 'read-only tools';
  if (problems.length === 0) add('tool-calls', true, `${calls.length} call(s) from the ${source} succeeded`);
  else add('tool-calls', false, `${problems.length} of ${calls.length} call(s) from the ${source} failed`, problems);
  return times;
}

async function errorHandling(conn: Connection, tools: Tool[], opts: ValidationOptions, add: Add): Promise<void> {
  const problems: string[] = [];
  const notes: string[] = [];
  const expectError = async (what: string, name: string, args: Record<string, unknown>): Promise<void> => {
    try {
      const r = await conn.client.callTool({ name, arguments: args }, { timeout: opts.callTimeoutMs });
      if (r.isError !== true) problems.push(`${what}: answered with a normal result instead of an error`);
      else notes.push(`${what}: isError result`);
    } catch (e) {
      if (isTimeout(e)) problems.push(`${what}: no answer within ${seconds(opts.callTimeoutMs)}`);
      else notes.push(`${what}: ${errText(e)}`);
    }
  };
  await expectError('unknown tool', 'mcp-rollout-no-such-tool', {});
  const withRequired = tools.find((t) => requiredArgs(t).length > 0);
  if (withRequired) await expectError(`tool "${withRequired.name}" without its required arguments`, withRequired.name, {});
  else notes.push('no tool takes required arguments: invalid-argument call not made');
  try {
    await conn.client.listTools({}, { timeout: opts.requestTimeoutMs, cacheMode: 'bypass' });
  } catch (e) {
    problems.push(`still serving after the errors: ${errText(e)}`);
  }
  if (problems.length === 0) add('error-handling', true, 'errors are reported and the server keeps serving', notes);
  else add('error-handling', false, problems.join('; '), notes);
}

/**
 * Samples protocol requests (`ping` on legacy servers, which 2026-07-28 removed; `tools/list` when the server
 * has tools) and holds them to the average and maximum limits, and each smoke call to its own limit. A request
 * answered with an error still answered; one that went unanswered fails the check.
 */
async function latency(conn: Connection, opts: ValidationOptions, smoke: SmokeTime[], add: Add): Promise<void> {
  const requests: [string, () => Promise<unknown>][] = [];
  if (conn.era === 'legacy') requests.push(['ping', () => conn.client.ping({ timeout: opts.requestTimeoutMs })]);
  if (conn.client.getServerCapabilities()?.tools) requests.push(['tools/list', () => conn.client.listTools({}, { timeout: opts.requestTimeoutMs, cacheMode: 'bypass' })]);
  const samples: number[] = [];
  const problems: string[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    for (const [method, request] of requests) {
      const t0 = performance.now();
      try {
        await request();
        samples.push(performance.now() - t0);
      } catch (e) {
        if (e instanceof ProtocolError) samples.push(performance.now() - t0);
        else problems.push(`${method}: ${isTimeout(e) ? `no answer within ${ms(opts.requestTimeoutMs)}` : errText(e)}`);
      }
    }
  }
  const slowCalls = smoke.filter((c) => c.tookMs >= c.limitMs).map((c) => `smoke call "${c.tool}": ${ms(c.tookMs)} (limit ${ms(c.limitMs)})`);
  if (samples.length === 0 && smoke.length === 0 && problems.length === 0) return;
  const parts: string[] = [];
  let ok = problems.length === 0 && slowCalls.length === 0;
  if (samples.length > 0) {
    const avg = samples.reduce((a, b) => a + b, 0) / samples.length;
    const max = Math.max(...samples);
    ok &&= avg < opts.maxAvgLatencyMs && max < opts.maxLatencyMs;
    parts.push(`average ${ms(avg)}, maximum ${ms(max)} over ${samples.length} requests (${requests.map(([m]) => m).join(', ')}; limits ${ms(opts.maxAvgLatencyMs)} / ${ms(opts.maxLatencyMs)})`);
  }
  if (problems.length > 0) parts.push(`${problems.length} request(s) unanswered`);
  if (smoke.length > 0) parts.push(slowCalls.length === 0 ? `${smoke.length} smoke call(s) within their limits` : `${slowCalls.length} of ${smoke.length} smoke call(s) over their limit`);
  add('latency', ok, parts.join('; '), [...problems.slice(0, 3), ...slowCalls]);
}

/**
 * stdio: the MCP shutdown (stdin closed, SIGTERM, SIGKILL; see stdio-shutdown): passes unless SIGKILL was needed.
 * HTTP: a legacy session is ended with DELETE.
 */
async function shutdown(conn: Connection, opts: ValidationOptions, add: Add): Promise<void> {
  const t = conn.transport;
  const t0 = performance.now();
  if (t instanceof StdioClientTransport) {
    const child = conn.child ?? childOf(t);
    if (!child) {
      // No process to watch (an SDK that hides it): how long close() takes says whether stdin closing was enough.
      await conn.client.close();
      const took = performance.now() - t0;
      // The SDK waits 2 s after closing stdin, then after SIGTERM, then sends SIGKILL without waiting.
      if (took < 2_000) add('shutdown', true, `exited ${ms(took)} after stdin closed`);
      else if (took < 4_000) add('shutdown', true, 'exited on SIGTERM after stdin close was ignored for 2 s');
      else add('shutdown', false, 'ignored stdin close and SIGTERM (2 s each); it had to be killed with SIGKILL');
      return;
    }
    const out = await shutDownStdio(child, opts.shutdownGraceMs);
    // The exit is known; the streams may still be held by a process the server started: let them go.
    for (const s of [child.stdout, child.stderr]) s?.destroy();
    await conn.client.close().catch(() => undefined);
    const how = out.signal ? `signal ${out.signal}` : `exit code ${out.code}`;
    if (out.step === 'stdin') add('shutdown', true, `exited ${ms(out.afterMs)} after stdin closed`);
    else if (out.step === 'SIGTERM') add('shutdown', true, `exited on SIGTERM after stdin close was ignored for ${seconds(opts.shutdownGraceMs)}`, [`exited ${ms(out.afterSignalMs ?? 0)} after SIGTERM (${how})`]);
    else if (out.step === 'SIGKILL') add('shutdown', false, `ignored stdin close and SIGTERM (${seconds(opts.shutdownGraceMs)} each); it had to be killed with SIGKILL`);
    else add('shutdown', false, `the server had already exited (${how}) before shutdown began`, conn.stderrTail() ? [`stderr: ${conn.stderrTail()}`] : []);
    return;
  }
  try {
    if (t instanceof StreamableHTTPClientTransport && t.sessionId !== undefined) await t.terminateSession();
    await conn.client.close();
    // 2026-07-28 has no sessions: there is nothing to end but the client's side.
    add('shutdown', true, conn.era === 'modern' ? `closed in ${ms(performance.now() - t0)} (2026-07-28: no session to end)` : `session ended in ${ms(performance.now() - t0)}`);
  } catch (e) {
    await conn.client.close().catch(() => undefined);
    add('shutdown', false, `ending the session failed: ${errText(e)}`);
  }
}
