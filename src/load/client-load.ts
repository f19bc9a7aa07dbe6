/**
 * Synthetic MCP client load: workers that open sessions with the official SDK client over Streamable HTTP,
 * make a few tool calls, and end the session cleanly, in a loop. Used by the demo and the end-to-end tests;
 * every failure is kept with its message, so a test can tell expected failures from others.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export interface LoadOptions {
  url: string;
  workers: number;
  /** Tool calls per session, cycling through `calls`. */
  callsPerSession: number;
  calls: { name: string; arguments: Record<string, unknown> }[];
  /** Pause between calls, ms. */
  pauseMs: number;
}

export interface LoadStats {
  sessions: number;
  calls: number;
  /** Sessions the router ended (HTTP 404) so the client started over, as a rollback prescribes. */
  sessionsEnded: number;
  /** Every other failure, by message. */
  failures: string[];
}

export interface RunningLoad {
  stats: LoadStats;
  /** Stops every worker after its current call and ends its session. */
  stop(): Promise<LoadStats>;
}

export function startLoad(opts: LoadOptions): RunningLoad {
  const stats: LoadStats = { sessions: 0, calls: 0, sessionsEnded: 0, failures: [] };
  let running = true;
  const worker = async (): Promise<void> => {
    while (running) {
      const transport = new StreamableHTTPClientTransport(new URL(opts.url));
      const client = new Client({ name: 'mcp-rollout-load', version: '1.0.0' });
      try {
        await client.connect(transport);
        stats.sessions++;
        for (let i = 0; i < opts.callsPerSession && running; i++) {
          try {
            await client.callTool(opts.calls[i % opts.calls.length]!);
            stats.calls++;
          } catch (e) {
            if (/\b404\b|Session not found/.test(String(e))) {
              stats.sessionsEnded++;
              break;
            }
            stats.failures.push(String(e));
          }
          if (opts.pauseMs > 0) await sleep(opts.pauseMs);
        }
        await transport.terminateSession().catch(() => undefined);
      } catch (e) {
        stats.failures.push(`session: ${String(e)}`);
      } finally {
        await client.close().catch(() => undefined);
      }
    }
  };
  const all = Array.from({ length: opts.workers }, () => worker());
  return {
    stats,
    stop: async () => {
      running = false;
      await Promise.all(all);
      return stats;
    },
  };
}
