/**
 * An active health probe: a handshake and tools/list against one version, each bounded by a deadline.
 * The era found by a version's first probe is remembered, so later probes make one handshake of that era
 * (no `server/discover` probe process each time); a failed probe forgets it.
 */
import type { ProtocolEra } from '../checks/connect-version.js';
import type { VersionRecord } from '../domain/types.js';

const eras = new Map<string, ProtocolEra>();

/** Probes `record`; never throws. `timeoutMs` bounds the handshake and the listing each (default 5000). */
export async function probeVersion(record: VersionRecord, timeoutMs = 5000): Promise<{ healthy: boolean; message: string }> {
  const key = JSON.stringify([record.type, record.type === 'stdio' ? [record.command, record.args, record.env, record.cwd] : [record.url]]);
  // The protocol clients load with the first probe (commands that never probe stay light).
  const { connectVersion, withDeadline } = await import('../checks/connect-version.js');
  let conn;
  try {
    conn = await connectVersion(record, timeoutMs, 'mcp-rollout-probe', eras.get(key));
  } catch (e) {
    eras.delete(key);
    return { healthy: false, message: `handshake failed: ${(e as Error).message}` };
  }
  try {
    const caps = conn.client.getServerCapabilities() ?? {};
    if (caps.tools) await withDeadline(conn.client.listTools({}, { cacheMode: 'bypass' }), timeoutMs, `tools/list timed out after ${timeoutMs} ms`);
    eras.set(key, conn.era);
    if (eras.size > 1000) eras.delete(eras.keys().next().value!);
    return { healthy: true, message: `${conn.era === 'modern' ? 'server/discover' : 'handshake'} and tools/list answered` };
  } catch (e) {
    eras.delete(key);
    return { healthy: false, message: listingFailed(e) };
  } finally {
    await conn.client.close().catch(() => undefined);
  }
}

/**
 * Why the listing failed. A server that dies between the handshake and tools/list fails the client's fetch,
 * whose error says only "fetch failed": its cause says what happened.
 */
function listingFailed(e: unknown): string {
  const { message, cause } = e as Error & { cause?: { code?: unknown; message?: unknown } };
  if (message !== 'fetch failed' || cause === undefined) return message;
  const code = typeof cause.code === 'string' ? cause.code : undefined;
  if (code === 'ECONNREFUSED') return 'tools/list failed: the server is not running (connection refused)';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') return `tools/list failed: the server closed the connection (${code})`;
  return `tools/list failed: ${typeof cause.message === 'string' ? cause.message : (code ?? message)}`;
}
