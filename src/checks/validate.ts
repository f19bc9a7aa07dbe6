/**
 * The validation suite: start (or reach) a version and check that it is fit for traffic. Every step has a
 * deadline, so a stalling server fails by the deadline and never hangs the validator.
 *   handshake, discovery, tool-calls, error-handling, latency, contract (against the stable version), shutdown
 * The handshake is the one of the server's era: `server/discover` for 2026-07-28 servers, `initialize` for
 * legacy ones (see connect-version); every later check runs over the era found.
 */
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { diffContracts, type Contract, type ContractDiff } from '../domain/contract-diff.js';
import type { Transport } from '../domain/types.js';
import { connectVersion, type Connection } from './connect-version.js';
import { discoverContract } from './discover-contract.js';
import { checkExpectations, type SmokeCall } from './smoke-file.js';
import { DEFAULT_VALIDATION, type CheckName, type CheckResult, type ValidationOptions, type ValidationReport } from './validation-spec.js';

export * from './validation-spec.js';

const LATENCY_SAMPLES = 10;
const ms = (n: number): string => `${Math.round(n * 10) / 10} ms`;
// The SDK repeats its "MCP error -32602: " prefix when it rethrows; say it once.
const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/^(MCP error -?\d+: )\1+/, '$1');

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

  const latencies: number[] = [];
  const timed = async <T>(f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    latencies.push(performance.now() - t0);
    return r;
  };
  let contract: Contract | undefined;
  try {
    contract = await discoverContract(conn.client, opts.requestTimeoutMs);
    add('discovery', true, `${contract.tools.length} tools, ${contract.prompts.length} prompts, ${contract.resources.length} resources, ${contract.resourceTemplates.length} resource templates`);
  } catch (e) {
    add('discovery', false, `listing failed: ${errText(e)}`);
  }
  const tools = contract?.tools ?? [];
  await toolCalls(conn, tools, opts, timed, add);
  await errorHandling(conn, tools, opts, timed, add);

  // A few cheap, side-effect-free requests give the latency figures enough samples to mean something.
  if (conn.client.getServerCapabilities()?.tools) {
    for (let i = 0; i < LATENCY_SAMPLES; i++) await timed(() => conn.client.listTools({}, { timeout: opts.requestTimeoutMs, cacheMode: 'bypass' })).catch(() => undefined);
  }
  // Discovery ran first and warmed the server up, so every timed request counts.
  const sample = latencies;
  if (sample.length > 0) {
    const avg = sample.reduce((a, b) => a + b, 0) / sample.length;
    const max = Math.max(...sample);
    const ok = avg < opts.maxAvgLatencyMs && max < opts.maxLatencyMs;
    add('latency', ok, `average ${ms(avg)}, maximum ${ms(max)} over ${sample.length} requests (limits ${opts.maxAvgLatencyMs} ms / ${opts.maxLatencyMs} ms)`);
  }

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

async function toolCalls(conn: Connection, tools: Tool[], opts: ValidationOptions, timed: <T>(f: () => Promise<T>) => Promise<T>, add: Add): Promise<void> {
  const calls: SmokeCall[] =
    opts.smoke ??
    tools
      .filter((t) => t.annotations?.readOnlyHint === true && requiredArgs(t).length === 0)
      .map((t) => ({ tool: t.name, arguments: {}, expect: { isError: false, json: [] } }));
  if (calls.length === 0) {
    add('tool-calls', true, 'no smoke file and no read-only tool without required arguments: nothing to call');
    return;
  }
  const problems: string[] = [];
  for (const call of calls) {
    try {
      const result = await timed(() => conn.client.callTool({ name: call.tool, arguments: call.arguments }, { timeout: opts.requestTimeoutMs }));
      for (const p of checkExpectations(call, result as Parameters<typeof checkExpectations>[1])) problems.push(`${call.tool}: ${p}`);
    } catch (e) {
      problems.push(`${call.tool}: ${errText(e)}`);
    }
  }
  const source = opts.smoke ? 'smoke file' : 'read-only tools';
  if (problems.length === 0) add('tool-calls', true, `${calls.length} call(s) from the ${source} succeeded`);
  else add('tool-calls', false, `${problems.length} of ${calls.length} call(s) from the ${source} failed`, problems);
}

async function errorHandling(conn: Connection, tools: Tool[], opts: ValidationOptions, timed: <T>(f: () => Promise<T>) => Promise<T>, add: Add): Promise<void> {
  const problems: string[] = [];
  const notes: string[] = [];
  const expectError = async (what: string, name: string, args: Record<string, unknown>): Promise<void> => {
    try {
      const r = await timed(() => conn.client.callTool({ name, arguments: args }, { timeout: opts.requestTimeoutMs }));
      if (r.isError !== true) problems.push(`${what}: answered with a normal result instead of an error`);
      else notes.push(`${what}: isError result`);
    } catch (e) {
      const m = errText(e);
      if (/timed out|timeout/i.test(m)) problems.push(`${what}: no answer within ${opts.requestTimeoutMs} ms`);
      else notes.push(`${what}: ${m}`);
    }
  };
  await expectError('unknown tool', 'mcp-rollout-no-such-tool', {});
  const withRequired = tools.find((t) => requiredArgs(t).length > 0);
  if (withRequired) await expectError(`tool "${withRequired.name}" without its required arguments`, withRequired.name, {});
  else notes.push('no tool takes required arguments: invalid-argument call not made');
  try {
    await timed(() => conn.client.listTools({}, { timeout: opts.requestTimeoutMs, cacheMode: 'bypass' }));
  } catch (e) {
    problems.push(`still serving after the errors: ${errText(e)}`);
  }
  if (problems.length === 0) add('error-handling', true, 'errors are reported and the server keeps serving', notes);
  else add('error-handling', false, problems.join('; '), notes);
}

async function shutdown(conn: Connection, opts: ValidationOptions, add: Add): Promise<void> {
  const t = conn.transport;
  const t0 = performance.now();
  if (t instanceof StdioClientTransport) {
    // The SDK ends stdin, waits 2 s, then sends SIGTERM, then SIGKILL: how long close() takes tells which.
    await conn.client.close();
    const took = performance.now() - t0;
    if (took < opts.shutdownGraceMs) add('shutdown', true, `exited ${ms(took)} after stdin closed`);
    else add('shutdown', false, `did not exit within ${opts.shutdownGraceMs} ms after stdin closed; it had to be terminated`);
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
