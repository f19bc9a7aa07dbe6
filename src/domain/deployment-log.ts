/**
 * Deployment-log records: one JSON line per registry change, named as the design names them.
 * Environment and header values never reach the log.
 */
import type { Change } from './registry-ops.js';
import type { Transport } from './types.js';

export type LogEvent =
  | 'mcp_server_registered'
  | 'mcp_server_updated'
  | 'mcp_server_status_changed'
  | 'mcp_server_traffic_changed'
  | 'mcp_server_rollback';

export interface LogRecord {
  /** ISO 8601 time of the change. */
  time: string;
  event: LogEvent;
  server: string;
  [field: string]: unknown;
}

/** Replaces every value of a key/value map with `***`, keeping the keys. */
export function maskValues(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(map).map((k) => [k, '***']));
}

/** The transport with secrets masked (env values, header values). */
export function maskTransport(t: Transport): Transport {
  if (t.type === 'stdio') return { ...t, env: maskValues(t.env) };
  return { ...t, headers: maskValues(t.headers), ...(t.managed ? { managed: { ...t.managed, env: maskValues(t.managed.env) } } : {}) };
}

/** Maps a registry change to its log record. `now` is epoch ms. */
export function toLogRecord(change: Change, now: number): LogRecord {
  const time = new Date(now).toISOString();
  const { type, server, ...rest } = change;
  switch (type) {
    case 'server:registered': {
      const c = change as Extract<Change, { type: 'server:registered' }>;
      const why = c.reason === undefined ? {} : { reason: c.reason };
      return { time, event: 'mcp_server_registered', server, version: c.version, status: c.status, trafficPercentage: c.trafficPercentage, transport: maskTransport(c.transport), ...why };
    }
    case 'server:status-changed':
      return { time, event: 'mcp_server_status_changed', server, ...rest };
    case 'server:traffic-changed':
      return { time, event: 'mcp_server_traffic_changed', server, ...rest };
    case 'server:rollback':
      return { time, event: 'mcp_server_rollback', server, ...rest };
    case 'server:version-removed':
      return { time, event: 'mcp_server_updated', server, change: 'version-removed', ...rest };
    case 'server:rollout':
      return { time, event: 'mcp_server_updated', server, change: 'rollout', ...rest };
    case 'server:validated':
      return { time, event: 'mcp_server_updated', server, change: 'validation', ...rest };
    case 'server:health-changed':
      return { time, event: 'mcp_server_updated', server, change: 'health', ...rest };
    case 'server:process':
      return { time, event: 'mcp_server_updated', server, change: 'process', ...rest };
  }
}
