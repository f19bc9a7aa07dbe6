/**
 * An active health probe: a handshake and tools/list against one version, each bounded by a deadline.
 */
import { connectVersion, withDeadline } from '../checks/connect-version.js';
import type { VersionRecord } from '../domain/types.js';

/** Probes `record`; never throws. `timeoutMs` bounds the handshake and the listing each (default 5000). */
export async function probeVersion(record: VersionRecord, timeoutMs = 5000): Promise<{ healthy: boolean; message: string }> {
  let conn;
  try {
    conn = await connectVersion(record, timeoutMs, 'mcp-rollout-probe');
  } catch (e) {
    return { healthy: false, message: `handshake failed: ${(e as Error).message}` };
  }
  try {
    const caps = conn.client.getServerCapabilities() ?? {};
    if (caps.tools) await withDeadline(conn.client.listTools(), timeoutMs, `tools/list timed out after ${timeoutMs} ms`);
    return { healthy: true, message: 'handshake and tools/list answered' };
  } catch (e) {
    return { healthy: false, message: (e as Error).message };
  } finally {
    await conn.client.close().catch(() => undefined);
  }
}
