/**
 * The PostgreSQL store's schema and its forward migrations. The schema version lives in one row; the tool
 * migrates an older database forward on first use and refuses a newer one (as the file store refuses a newer
 * file format), since an older tool would write rows a newer one no longer reads the same way.
 */
import type postgres from 'postgres';
import { AppError } from '../errors.js';

/** The schema this build writes and the newest it reads. */
export const DB_SCHEMA_VERSION = 4;

/** The channel every committed write notifies, with the new revision as payload (a cue to re-read). */
export const CHANGE_CHANNEL = 'mcp_rollout';

/**
 * The channel a router notifies when a client's DELETE ended a session, with a digest of its id as payload
 * (store.ts SessionEndStore). A channel of its own: a notice on CHANGE_CHANNEL makes every reader re-read.
 */
export const SESSION_END_CHANNEL = 'mcp_rollout_session_end';

/** Migration n brings a database from schema n-1 to n; index 0 is migration 1. */
const MIGRATIONS: ReadonlyArray<(sql: postgres.TransactionSql) => Promise<unknown>> = [
  async (sql) => {
    // One row per server: its name is the key across scopes, so one name can never live in two scopes.
    await sql`CREATE TABLE mcp_rollout_servers (
      name text PRIMARY KEY,
      scope text NOT NULL,
      doc jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now())`;
    // The deployment log (the file store's .jsonl): one row per change, in commit order within a server.
    await sql`CREATE TABLE mcp_rollout_log (
      id bigserial PRIMARY KEY,
      scope text NOT NULL,
      server text NOT NULL,
      record jsonb NOT NULL,
      written_at timestamptz NOT NULL DEFAULT now())`;
    await sql`CREATE INDEX mcp_rollout_log_server ON mcp_rollout_log (server, id)`;
    // One counter bumped by every write: the revision readers compare, and the NOTIFY payload.
    await sql`CREATE TABLE mcp_rollout_revision (id int PRIMARY KEY CHECK (id = 1), revision bigint NOT NULL)`;
    await sql`INSERT INTO mcp_rollout_revision VALUES (1, 0)`;
  },
  async (sql) => {
    // The key ring that seals session ids (key-ring.ts), one row shared by every router of the database.
    // Made by the first router that needs it, so there is nothing to configure.
    await sql`CREATE TABLE mcp_rollout_keys (
      id int PRIMARY KEY CHECK (id = 1),
      ring jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now())`;
  },
  async (sql) => {
    // Each router's cumulative counters per version, rewritten about once a second (fleet-store.ts): the
    // analysis and mcp-status sum them. updated_at is the database's clock, so freshness needs no clock sync.
    await sql`CREATE TABLE mcp_rollout_telemetry (
      router_id text NOT NULL,
      server text NOT NULL,
      version text NOT NULL,
      router jsonb NOT NULL,
      totals jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (router_id, server, version))`;
    // One lease per rollout: the driver renews it; another takes it only once expires_at has passed.
    await sql`CREATE TABLE mcp_rollout_leases (
      server text PRIMARY KEY,
      holder_pid int NOT NULL,
      holder_host text NOT NULL,
      expires_at timestamptz NOT NULL)`;
  },
  async (sql) => {
    // Sessions their client ended with DELETE (a digest of the id), kept a while beside the NOTIFY: a router
    // whose listener (re)connects reads those it may have missed, since NOTIFY has no replay.
    await sql`CREATE TABLE mcp_rollout_session_ends (
      digest text PRIMARY KEY,
      ended_at timestamptz NOT NULL DEFAULT clock_timestamp())`;
  },
];

/** Key of the advisory lock that serialises migrations (concurrent first users of an empty database). */
const MIGRATION_LOCK = 0x6d63_7072; // "mcpr"

/**
 * Makes sure the database holds the current schema: nothing but one small read when it does; otherwise,
 * under an advisory lock, creates or migrates it forward. Throws AppError `corrupt` naming `where` when the
 * database was written by a newer mcp-rollout.
 */
export async function ensureSchema(sql: postgres.Sql, where: string): Promise<void> {
  const seen = await readSchemaVersion(sql);
  if (seen === DB_SCHEMA_VERSION) return;
  if (seen !== undefined && seen > DB_SCHEMA_VERSION) throw newerSchema(where, seen);
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS mcp_rollout_schema (id int PRIMARY KEY CHECK (id = 1), version int NOT NULL)`;
    // Read again under the lock: another process may have migrated while we waited.
    const rows = await tx<{ version: number }[]>`SELECT version FROM mcp_rollout_schema WHERE id = 1`;
    const current = rows[0]?.version ?? 0;
    if (current > DB_SCHEMA_VERSION) throw newerSchema(where, current);
    for (let v = current + 1; v <= DB_SCHEMA_VERSION; v++) await MIGRATIONS[v - 1]!(tx);
    await tx`INSERT INTO mcp_rollout_schema VALUES (1, ${DB_SCHEMA_VERSION}) ON CONFLICT (id) DO UPDATE SET version = excluded.version`;
  });
}

/** The stored schema version, or undefined for a database mcp-rollout never wrote. */
async function readSchemaVersion(sql: postgres.Sql): Promise<number | undefined> {
  try {
    const rows = await sql<{ version: number }[]>`SELECT version FROM mcp_rollout_schema WHERE id = 1`;
    return rows[0]?.version;
  } catch (e) {
    if ((e as { code?: string }).code === '42P01') return undefined; // undefined_table
    throw e;
  }
}

function newerSchema(where: string, version: number): AppError {
  return new AppError(
    'corrupt',
    `database ${where} holds mcp-rollout schema ${version}, written by a newer mcp-rollout (this one reads up to ${DB_SCHEMA_VERSION}); upgrade mcp-rollout. The database was left unchanged`,
  );
}
