/**
 * Sessions of the official SDK v1 client that keep calling a tool until stopped, for tests that need traffic
 * under a rollout or through a load balancer. A session whose call fails is closed and a new one opened (its
 * version may have been rolled back, or its router killed); every failure is counted with its message.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export interface Traffic {
  /** Calls answered without a JSON-RPC error. */
  ok: number;
  /** Calls that failed, by message (tool errors and transport failures alike). */
  failed: Map<string, number>;
  /** Stops every loop after its call in flight and closes its session. */
  stop(): Promise<void>;
}

/**
 * `sessions` loops against `url` (…/mcp/<name>), each calling `tool` every `paceMs` (default 20) and starting
 * a new session after `callsPerSession` calls (default never), so new sessions keep meeting the traffic split.
 */
export function startTraffic(url: string, sessions: number, opts: { tool?: string; paceMs?: number; callsPerSession?: number } = {}): Traffic {
  const { tool = 'current', paceMs = 20, callsPerSession = Infinity } = opts;
  let stopped = false;
  const t: Omit<Traffic, 'stop'> = { ok: 0, failed: new Map() };
  const fail = (e: unknown): void => {
    const m = (e as Error).message.slice(0, 120);
    t.failed.set(m, (t.failed.get(m) ?? 0) + 1);
  };
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const client = new Client({ name: 'traffic', version: '1.0.0' });
      try {
        await client.connect(new StreamableHTTPClientTransport(new URL(url)));
        for (let n = 0; n < callsPerSession && !stopped; n++) {
          await client.callTool({ name: tool, arguments: {} });
          t.ok++;
          await new Promise((r) => setTimeout(r, paceMs));
        }
      } catch (e) {
        fail(e);
        if (!stopped) await new Promise((r) => setTimeout(r, paceMs));
      } finally {
        await client.close().catch(() => undefined);
      }
    }
  };
  const loops = Array.from({ length: sessions }, () => loop());
  return Object.assign(t, {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  });
}
