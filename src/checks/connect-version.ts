/**
 * Connects an official SDK client to one version, whatever its transport and protocol era, with a deadline on
 * the handshake. Used by validation and health probes (not by the router, which forwards raw messages).
 *
 * The era is found the way a dual-era client finds it: the v2 SDK client in `auto` mode sends `server/discover`
 * first; a result (or a recognised modern error) means the 2026-07-28 revision, anything else (a legacy error,
 * or silence on stdio within the probe timeout) means a legacy server, which then gets the usual `initialize`.
 * On stdio the SDK probes on a short-lived sibling process spawned from the same command (its stderr is
 * discarded), so a server that exits on an unknown pre-`initialize` request still counts as legacy; the
 * version's own process is started once, after the era is known.
 */
import { Client, SSEClientTransport, StreamableHTTPClientTransport, type Transport as SdkTransport, type VersionNegotiationOptions } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import type { ChildProcess } from 'node:child_process';
import type { Transport } from '../domain/types.js';
import { childOf } from './stdio-shutdown.js';

/** ms to let an abandoned connect settle after the deadline (the SDK's sibling reaper signals, then kills after 1 s). */
const REAP_MS = 3_000;

/** The SDK's own timeouts are set this much (ms) past the deadline, so the deadline's message is the one seen. */
const SDK_SLACK_MS = 1_000;
/** Marks connectVersion's own deadline among the errors a connect can end with. */
const DEADLINE = 'mcp-rollout: handshake deadline';

export type ProtocolEra = 'modern' | 'legacy';

export interface Connection {
  client: Client;
  transport: SdkTransport;
  /** `modern`: the 2026-07-28 revision after `server/discover`; `legacy`: an `initialize` handshake. */
  era: ProtocolEra;
  /** The negotiated protocol version (`2026-07-28`, `2025-11-25`, ...). */
  protocolVersion: string;
  /** Modern servers: the versions their `server/discover` lists. */
  supportedVersions?: string[];
  /** The child's pid for stdio versions. */
  pid?: number;
  /** The child process of a stdio version (kept from the start: the SDK transport forgets it once it closes). */
  child?: ChildProcess;
  /** The last lines the child wrote to stderr (stdio), for error messages. */
  stderrTail(): string;
}

/** Rejects with `Error(message)` when `p` takes longer than `ms`. */
export async function withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How the client looks for the era. The legacy HTTP+SSE transport has no modern form: no probe. On stdio the
 * probe gets half the handshake budget, so a legacy server that ignores `server/discover` still has the other
 * half to answer `initialize`. On HTTP silence is an outage, not a legacy signal (the SDK fails the connect),
 * so the probe may use the whole budget (`timeoutMs`, ms), and connectVersion's deadline ends it.
 */
export function negotiationFor(type: Transport['type'], timeoutMs: number): VersionNegotiationOptions {
  if (type === 'sse') return { mode: 'legacy' };
  return { mode: 'auto', probe: { timeoutMs: type === 'stdio' ? Math.max(1, Math.floor(timeoutMs / 2)) : timeoutMs + SDK_SLACK_MS } };
}

/**
 * Starts (stdio) or reaches (http, sse) the version and completes the handshake of its era within `timeoutMs`
 * (ms, the whole budget: probe and `initialize` together). On failure everything started is closed and the
 * error says what happened (exit code, stderr, which request went unanswered). Throws `Error`.
 * `knownEra` (from an earlier connection) skips the probe: one process, one handshake.
 */
export async function connectVersion(t: Transport, timeoutMs: number, clientName = 'mcp-rollout', knownEra?: ProtocolEra): Promise<Connection> {
  let stderr = '';
  let transport: SdkTransport;
  if (t.type === 'stdio') {
    const stdio = new StdioClientTransport({
      command: t.command,
      args: t.args,
      env: { ...(process.env as Record<string, string>), ...t.env },
      ...(t.cwd === undefined ? {} : { cwd: t.cwd }),
      stderr: 'pipe',
    });
    stdio.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-2000);
    });
    transport = stdio;
  } else if (t.type === 'http') {
    transport = new StreamableHTTPClientTransport(new URL(t.url), { requestInit: { headers: t.headers } });
  } else {
    transport = new SSEClientTransport(new URL(t.url), { requestInit: { headers: t.headers }, eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...t.headers, ...(init?.headers as Record<string, string>) } }) } });
  }
  // Which requests went out on the version's own connection: on a deadline, says which one went unanswered.
  const sent: string[] = [];
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if ('method' in message && 'id' in message) sent.push(message.method);
    return send(message, options);
  };
  const client = new Client({ name: clientName, version: '0.1.0' }, { capabilities: {}, versionNegotiation: knownEra === undefined ? negotiationFor(t.type, timeoutMs) : knownEra === 'legacy' ? { mode: 'legacy' } : { mode: { pin: '2026-07-28' } } });
  const closed = new Promise<never>((_, reject) => {
    transport.onclose = () => reject(new Error(exitMessage()));
  });
  const exitMessage = (): string => {
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    return `the server closed the connection before the handshake${tail ? `; stderr: ${tail}` : ''}`;
  };
  const unanswered = (): string => {
    if (sent.includes('initialize')) {
      // On stdio the probe ran first (on its sibling) and gave no modern answer; on HTTP it was refused.
      return `no answer to initialize within ${timeoutMs} ms${t.type === 'sse' ? '' : ' (server/discover gave no modern answer before it)'}`;
    }
    return t.type === 'sse' ? `no answer to initialize within ${timeoutMs} ms` : `no answer to server/discover within ${timeoutMs} ms`;
  };
  const connecting = client.connect(transport, { timeout: timeoutMs + SDK_SLACK_MS });
  try {
    await withDeadline(Promise.race([connecting, closed]), timeoutMs, DEADLINE);
  } catch (e) {
    const err = e instanceof Error && e.message === DEADLINE ? new Error(unanswered()) : e;
    // Closing the transport also aborts a probe still under way (the SDK then reaps its sibling process).
    await Promise.all([client.close().catch(() => undefined), transport.close().catch(() => undefined)]);
    // Let the SDK finish its cleanup (a probe sibling is reaped within a few seconds), but never wait forever.
    await withDeadline(connecting, REAP_MS, 'reap').catch(() => undefined);
    throw err;
  }
  closed.catch(() => undefined);
  const pid = transport instanceof StdioClientTransport ? (transport.pid ?? undefined) : undefined;
  const child = transport instanceof StdioClientTransport ? childOf(transport) : undefined;
  const era: ProtocolEra = client.getProtocolEra() === 'modern' ? 'modern' : 'legacy';
  const supportedVersions = client.getDiscoverResult()?.supportedVersions;
  return {
    client,
    transport,
    era,
    protocolVersion: client.getNegotiatedProtocolVersion() ?? '?',
    ...(era === 'modern' && supportedVersions ? { supportedVersions: [...supportedVersions] } : {}),
    ...(pid === undefined ? {} : { pid }),
    ...(child === undefined ? {} : { child }),
    stderrTail: () => stderr.trim().split('\n').slice(-3).join(' | '),
  };
}
