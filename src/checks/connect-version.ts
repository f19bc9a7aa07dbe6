/**
 * Connects the official SDK client to one version, whatever its transport, with a deadline on the handshake.
 * Used by validation and health probes (not by the router, which forwards raw messages).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport as SdkTransport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Transport } from '../domain/types.js';

export interface Connection {
  client: Client;
  transport: SdkTransport;
  /** The child's pid for stdio versions. */
  pid?: number;
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
 * Starts (stdio) or reaches (http, sse) the version and completes the MCP handshake within `timeoutMs`.
 * On failure everything started is closed and the error says what happened (exit code, stderr, timeout).
 */
export async function connectVersion(t: Transport, timeoutMs: number, clientName = 'mcp-rollout'): Promise<Connection> {
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
  const client = new Client({ name: clientName, version: '0.1.0' }, { capabilities: {} });
  const closed = new Promise<never>((_, reject) => {
    transport.onclose = () => reject(new Error(exitMessage()));
  });
  const exitMessage = (): string => {
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    return `the server closed the connection before the handshake${tail ? `; stderr: ${tail}` : ''}`;
  };
  try {
    await withDeadline(Promise.race([client.connect(transport), closed]), timeoutMs, `no answer to initialize within ${timeoutMs} ms`);
  } catch (e) {
    await client.close().catch(() => undefined);
    throw e;
  }
  closed.catch(() => undefined);
  const pid = transport instanceof StdioClientTransport ? (transport.pid ?? undefined) : undefined;
  return {
    client,
    transport,
    ...(pid === undefined ? {} : { pid }),
    stderrTail: () => stderr.trim().split('\n').slice(-3).join(' | '),
  };
}
