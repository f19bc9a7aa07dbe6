/**
 * The database side of a router fleet (fleet-store.ts): telemetry rows each router rewrites about once a
 * second, and rollout leases taken with `… WHERE expires_at < now()`. Every time is the database's clock, so
 * routers on hosts whose clocks disagree still agree on which row is fresh and which lease has run out.
 */
import type postgres from 'postgres';
import type { RolloutDriver } from '../domain/types.js';
import type { SeriesTotals } from '../telemetry/version-metrics.js';
import type { LeaseState, RouterIdentity, RouterReport } from './fleet-store.js';

type Sql = postgres.Sql;

/** Rows not rewritten for this long belong to routers long gone: deleted by the writers. */
export const TELEMETRY_RETENTION_MS = 10 * 60_000;

/**
 * One upsert per version in one statement; the store's clock stamps them. A router with no series yet (no
 * traffic, no managed version) writes one presence row (server '' and version ''), so the fleet still sees it
 * running: `mcp-deploy --detach` and managed rollouts look for routers there.
 */
export async function writeTelemetryRows(sql: Sql, router: RouterIdentity, series: readonly SeriesTotals[], prune: boolean): Promise<void> {
  if (series.length === 0) {
    await sql`INSERT INTO mcp_rollout_telemetry (router_id, server, version, router, totals, updated_at)
      VALUES (${router.id}, '', '', ${sql.json(router as unknown as postgres.JSONValue)}, '{}'::jsonb, now())
      ON CONFLICT (router_id, server, version) DO UPDATE SET router = excluded.router, updated_at = now()`;
  } else {
    await sql`INSERT INTO mcp_rollout_telemetry (router_id, server, version, router, totals, updated_at)
      SELECT ${router.id}, t->>'server', t->>'version', ${sql.json(router as unknown as postgres.JSONValue)}, t, now()
      FROM jsonb_array_elements(${sql.json(series as unknown as postgres.JSONValue)}) AS t
      ON CONFLICT (router_id, server, version) DO UPDATE SET totals = excluded.totals, router = excluded.router, updated_at = now()`;
  }
  if (prune) await sql`DELETE FROM mcp_rollout_telemetry WHERE updated_at < now() - ${TELEMETRY_RETENTION_MS} * interval '1 millisecond'`;
}

export async function readTelemetryRows(sql: Sql, maxAgeMs: number): Promise<RouterReport[]> {
  const rows = await sql<{ router_id: string; server: string; router: RouterIdentity; totals: SeriesTotals; age_ms: number }[]>`
    SELECT router_id, server, router, totals, (extract(epoch FROM now() - updated_at) * 1000)::float8 AS age_ms
    FROM mcp_rollout_telemetry WHERE updated_at >= now() - ${maxAgeMs} * interval '1 millisecond' ORDER BY router_id, server, version`;
  const byRouter = new Map<string, RouterReport>();
  for (const r of rows) {
    const report = byRouter.get(r.router_id) ?? { router: r.router, series: [], ageMs: r.age_ms };
    if (r.server !== '') report.series.push(r.totals); // '' is a presence row: the router, no series
    // The router's freshest row says when it last wrote.
    report.ageMs = Math.min(report.ageMs, r.age_ms);
    byRouter.set(r.router_id, report);
  }
  return [...byRouter.values()];
}

/** Taken when there is no lease, it expired, or `holder` has it already; atomic under the row's lock. */
export async function acquireLeaseRow(sql: Sql, server: string, holder: RolloutDriver, ttlMs: number): Promise<boolean> {
  const rows = await sql`INSERT INTO mcp_rollout_leases (server, holder_pid, holder_host, expires_at)
    VALUES (${server}, ${holder.pid}, ${holder.host}, now() + ${ttlMs} * interval '1 millisecond')
    ON CONFLICT (server) DO UPDATE SET holder_pid = excluded.holder_pid, holder_host = excluded.holder_host, expires_at = excluded.expires_at
    WHERE mcp_rollout_leases.expires_at < now()
      OR (mcp_rollout_leases.holder_pid = excluded.holder_pid AND mcp_rollout_leases.holder_host = excluded.holder_host)
    RETURNING 1`;
  return rows.length === 1;
}

/** Extended only while unexpired and still `holder`'s: a lease that ran out may already be another's. */
export async function renewLeaseRow(sql: Sql, server: string, holder: RolloutDriver, ttlMs: number): Promise<boolean> {
  const rows = await sql`UPDATE mcp_rollout_leases SET expires_at = now() + ${ttlMs} * interval '1 millisecond'
    WHERE server = ${server} AND holder_pid = ${holder.pid} AND holder_host = ${holder.host} AND expires_at >= now()
    RETURNING 1`;
  return rows.length === 1;
}

export async function releaseLeaseRow(sql: Sql, server: string, holder: RolloutDriver): Promise<void> {
  await sql`DELETE FROM mcp_rollout_leases WHERE server = ${server} AND holder_pid = ${holder.pid} AND holder_host = ${holder.host}`;
}

export async function selectLease(sql: Sql, server: string): Promise<LeaseState | undefined> {
  const rows = await sql<{ holder_pid: number; holder_host: string; remaining_ms: number }[]>`
    SELECT holder_pid, holder_host, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS remaining_ms
    FROM mcp_rollout_leases WHERE server = ${server}`;
  const r = rows[0];
  return r && { holder: { pid: r.holder_pid, host: r.holder_host }, remainingMs: r.remaining_ms };
}
