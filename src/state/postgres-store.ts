/**
 * The PostgreSQL store: the registry shared by every command, router and host that names one database.
 * Each write is one transaction serialised per server (an advisory lock on its name, so creating a server
 * cannot race either), which writes the server row, appends its log records and bumps the one revision
 * counter; the commit notifies CHANGE_CHANNEL with the new revision, so readers re-read at once instead of
 * polling. Routers also tell each other of sessions their clients ended, on SESSION_END_CHANNEL. The client
 * library (postgres.js) is loaded only when a database is named: file-store users never pay for it.
 */
import type postgres from 'postgres';
import type { LogRecord } from '../domain/deployment-log.js';
import type { RolloutDriver, Scope, ServerState } from '../domain/types.js';
import type { SeriesTotals } from '../telemetry/version-metrics.js';
import { SCOPES } from '../domain/types.js';
import { AppError } from '../errors.js';
import { newKeyRing, parseKeyRing, rotatedKeyRing, type KeyRing } from './key-ring.js';
import type { FleetTelemetryStore, LeaseState, RolloutLeaseStore, RouterIdentity, RouterReport } from './fleet-store.js';
import { acquireLeaseRow, readTelemetryRows, releaseLeaseRow, renewLeaseRow, selectLease, writeTelemetryRows } from './postgres-fleet.js';
import { clockReading, RESYNC_MS, sampleDatabaseClock, type ClockBase } from './postgres-clock.js';
import { CHANGE_CHANNEL, ensureSchema, SESSION_END_CHANNEL } from './postgres-schema.js';
import { DEFAULT_HISTORY_LIMIT, parseDocument, serializeDocument, SCHEMA_VERSION } from './registry-document.js';
import { scopeConflict, type SessionEndStore, type Store, type StoredServer, type UpdateOutcome, type UpdateResult } from './store.js';

type Sql = postgres.Sql;
type Tx = postgres.TransactionSql;

/** How long a client's session end is kept for routers that missed its NOTIFY, s (twice serve's default idle timeout). */
export const SESSION_END_REPLAY_S = 3600;
/** The most session ends a (re)connecting listener reads (a router remembers 10,000). */
const SESSION_END_REPLAY_MAX = 10_000;

interface ServerRow {
  name: string;
  scope: string;
  doc: unknown;
}

export interface PostgresStoreOptions {
  /** Newest history entries kept per server (default 1000, as the file store). */
  historyLimit?: number;
  /** Seconds to wait for a connection before the command fails (default 10). */
  connectTimeoutS?: number;
}

/** The URL with its password left out, for every message (never print a credential). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/(\/\/[^:/@]*):[^@/]*@/, '$1@');
  }
}

export class PostgresStore implements Store, FleetTelemetryStore, RolloutLeaseStore, SessionEndStore {
  private sql: Promise<Sql> | undefined;
  private readonly where: string;
  private telemetryWrites = 0;
  private sessionEnds = 0;
  private clock: ClockBase | undefined;
  private resyncing = false;

  /** Connects lazily, on the first call; `url` is a `postgres://` or `postgresql://` URL. */
  constructor(
    private readonly url: string,
    private readonly options: PostgresStoreOptions = {},
  ) {
    this.where = redactUrl(url);
  }

  async list(): Promise<StoredServer[]> {
    const rows = await this.run((sql) => selectServers(sql));
    return rows.map((r) => this.toStored(r)).sort((a, b) => a.server.name.localeCompare(b.server.name));
  }

  async get(name: string): Promise<StoredServer | undefined> {
    const row = await this.run((sql) => selectServer(sql, name));
    return row && this.toStored(row);
  }

  /** The counter every write bumps: one single-row read. Throws AppError `io` when the database cannot be reached. */
  async revision(): Promise<string> {
    return this.run((sql) => selectRevision(sql));
  }

  /**
   * The database's clock, epoch ms, without a query (postgres-clock.ts): the one clock of every process on this
   * database. This host's clock until the database was first reached (every read or write reaches it first).
   */
  now(): number {
    const base = this.clock;
    if (!base) return Date.now();
    const mono = performance.now();
    if (mono - base.monoMs > RESYNC_MS && !this.resyncing && this.sql) {
      this.resyncing = true;
      void this.run((sql) => sampleDatabaseClock(sql))
        .then((b) => (this.clock = b), () => undefined)
        .finally(() => (this.resyncing = false));
    }
    return clockReading(base, mono);
  }

  whereLooked(): string {
    return `database ${this.where}`;
  }

  async update<T>(name: string, scope: Scope | undefined, fn: (current: ServerState | undefined) => UpdateOutcome<T>): Promise<UpdateResult<T>> {
    const historyLimit = this.options.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    const { value, target } = await this.run((sql) =>
      sql.begin(async (tx) => {
        await lockServer(tx, name);
        const row = await selectServer(tx, name);
        const existing = row && this.toStored(row);
        if (existing && scope !== undefined && existing.scope !== scope) throw scopeConflict(name, existing, scope);
        const target = existing?.scope ?? scope ?? 'project';
        const outcome = fn(existing?.server);
        if (outcome.log.length === 0) return { value: outcome.value, target };
        if (outcome.server === undefined) await deleteServer(tx, name);
        else await upsertServer(tx, name, target, serverDoc(outcome.server, historyLimit));
        await appendLog(tx, target, name, outcome.log);
        await bumpRevisionAndNotify(tx);
        return { value: outcome.value, target };
      }),
    );
    return { value: value as T, scope: target, location: this.where };
  }

  /**
   * Writes `servers` (scopes kept) and their log records in one transaction, for `store copy`, and `keyRing` as
   * the database's when it has none yet. Throws AppError `conflict` naming every server the database already
   * holds; then nothing is written.
   */
  async importServers(servers: readonly StoredServer[], log: readonly { scope: Scope; record: LogRecord }[], keyRing?: KeyRing): Promise<void> {
    const historyLimit = this.options.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    const names = servers.map((s) => s.server.name).sort();
    if (names.length === 0) return;
    await this.run((sql) =>
      sql.begin(async (tx) => {
        for (const name of names) await lockServer(tx, name);
        const taken = await tx<{ name: string }[]>`SELECT name FROM mcp_rollout_servers WHERE name IN ${tx(names)} ORDER BY name`;
        if (taken.length > 0) {
          throw new AppError('conflict', `database ${this.where} already holds ${taken.map((r) => `"${r.name}"`).join(', ')}; nothing was copied (remove them there first, or copy elsewhere)`);
        }
        for (const s of servers) await upsertServer(tx, s.server.name, s.scope, serverDoc(s.server, historyLimit));
        // One statement per server and scope, its records in their order.
        const groups = new Map<string, { scope: Scope; server: string; records: LogRecord[] }>();
        for (const { scope, record } of log) {
          const g = groups.get(`${scope}\u0000${record.server}`) ?? { scope, server: record.server, records: [] };
          g.records.push(record);
          groups.set(`${scope}\u0000${record.server}`, g);
        }
        for (const g of groups.values()) await appendLog(tx, g.scope, g.server, g.records);
        // Session ids sealed by the source's routers open on this database's routers too (a ring there already wins).
        if (keyRing) await tx`INSERT INTO mcp_rollout_keys (id, ring) VALUES (1, ${tx.json(keyRing as unknown as postgres.JSONValue)}) ON CONFLICT (id) DO NOTHING`;
        await bumpRevisionAndNotify(tx);
      }),
    );
  }

  /** Every log record, oldest first, with its scope (for `store copy` from a database). */
  async readLog(): Promise<{ scope: Scope; record: LogRecord }[]> {
    const rows = await this.run((sql) => sql<{ scope: string; record: LogRecord }[]>`SELECT scope, record FROM mcp_rollout_log ORDER BY id`);
    return rows.map((r) => ({ scope: r.scope as Scope, record: r.record }));
  }

  /** The session key ring (table mcp_rollout_keys), made on first use: the first of racing routers wins. */
  async keyRing(): Promise<KeyRing> {
    return this.run(async (sql) => {
      const found = await selectKeyRing(sql, this.where);
      if (found) return found;
      await sql`INSERT INTO mcp_rollout_keys (id, ring) VALUES (1, ${sql.json(newKeyRing() as unknown as postgres.JSONValue)}) ON CONFLICT (id) DO NOTHING`;
      return (await selectKeyRing(sql, this.where))!;
    });
  }

  /** The session key ring when the database has one (never makes one), for `store copy`. */
  async existingKeyRing(): Promise<KeyRing | undefined> {
    return this.run((sql) => selectKeyRing(sql, this.where));
  }

  /** Rotates the ring in one transaction and notifies every router (a cue, as for a registry write). */
  async rotateKeys(): Promise<KeyRing> {
    return this.run((sql) =>
      sql.begin(async (tx) => {
        const rows = await tx<{ ring: unknown }[]>`SELECT ring FROM mcp_rollout_keys WHERE id = 1 FOR UPDATE`;
        const ring = rotatedKeyRing(rows[0] === undefined ? undefined : this.parseRing(rows[0].ring));
        await tx`INSERT INTO mcp_rollout_keys (id, ring) VALUES (1, ${tx.json(ring as unknown as postgres.JSONValue)})
          ON CONFLICT (id) DO UPDATE SET ring = excluded.ring, updated_at = now()`;
        await tx`SELECT pg_notify(${CHANGE_CHANNEL}, 'keys')`;
        return ring;
      }),
    );
  }

  keyRingLocation(): string {
    return `database ${this.where} (table mcp_rollout_keys)`;
  }

  private parseRing(data: unknown): KeyRing {
    return parseRingRow(data, this.where);
  }

  /** See FleetTelemetryStore; every 60th write also deletes rows routers stopped rewriting long ago. */
  async writeTelemetry(router: RouterIdentity, series: readonly SeriesTotals[]): Promise<void> {
    const prune = this.telemetryWrites++ % 60 === 0;
    await this.run((sql) => writeTelemetryRows(sql, router, series, prune));
  }

  async readTelemetry(maxAgeMs: number): Promise<RouterReport[]> {
    return this.run((sql) => readTelemetryRows(sql, maxAgeMs));
  }

  /** See RolloutLeaseStore. No log line and no NOTIFY: a renewal every few seconds is not a registry change. */
  async acquireLease(server: string, holder: RolloutDriver, ttlMs: number): Promise<boolean> {
    return this.run((sql) => acquireLeaseRow(sql, server, holder, ttlMs));
  }

  async renewLease(server: string, holder: RolloutDriver, ttlMs: number): Promise<boolean> {
    return this.run((sql) => renewLeaseRow(sql, server, holder, ttlMs));
  }

  async releaseLease(server: string, holder: RolloutDriver): Promise<void> {
    await this.run((sql) => releaseLeaseRow(sql, server, holder));
  }

  async lease(server: string): Promise<LeaseState | undefined> {
    return this.run((sql) => selectLease(sql, server));
  }

  /**
   * Calls `onChange` after every committed write by anyone (a NOTIFY, the revision as a cue) and whenever the
   * listening connection is (re)established, since NOTIFY has no replay: a reader re-reads then. `onError`
   * hears a listener that could not connect (it retries every `retryMs`, default 1000). Returns stop.
   */
  watch(onChange: () => void, onError?: (e: Error) => void, retryMs = 1000): () => void {
    return this.listen(CHANGE_CHANNEL, () => onChange(), () => onChange(), onError, retryMs);
  }

  /**
   * See SessionEndStore: the end is kept for SESSION_END_REPLAY_S and notified on SESSION_END_CHANNEL in one
   * transaction (the notice goes out at its commit). Every 100th also deletes ends kept longer.
   */
  async publishSessionEnd(digest: string): Promise<void> {
    const prune = this.sessionEnds++ % 100 === 0;
    await this.run((sql) =>
      sql.begin(async (tx) => {
        await tx`INSERT INTO mcp_rollout_session_ends (digest) VALUES (${digest}) ON CONFLICT (digest) DO UPDATE SET ended_at = clock_timestamp()`;
        await tx`SELECT pg_notify(${SESSION_END_CHANNEL}, ${digest})`;
        if (prune) await tx`DELETE FROM mcp_rollout_session_ends WHERE ended_at < clock_timestamp() - make_interval(secs => ${SESSION_END_REPLAY_S})`;
      }),
    );
  }

  /**
   * See SessionEndStore. Each time the listener (re)connects, the ends of the last SESSION_END_REPLAY_S are read
   * too (the newest SESSION_END_REPLAY_MAX): those notified while it was away, which NOTIFY does not replay, and
   * those from before a router started (an id ended elsewhere is not taken on again).
   */
  watchSessionEnds(onEnd: (digest: string) => void, onError?: (e: Error) => void, retryMs = 1000): () => void {
    // Each end once, whether notified, read back, or both (the newest SESSION_END_REPLAY_MAX remembered).
    const seen = new Set<string>();
    const deliver = (digest: string): void => {
      if (seen.has(digest)) return;
      seen.add(digest);
      if (seen.size > SESSION_END_REPLAY_MAX) seen.delete(seen.values().next().value!);
      onEnd(digest);
    };
    const replay = (): void => {
      void this.run((sql) => sql<{ digest: string }[]>`SELECT digest FROM mcp_rollout_session_ends
        WHERE ended_at > clock_timestamp() - make_interval(secs => ${SESSION_END_REPLAY_S})
        ORDER BY ended_at DESC LIMIT ${SESSION_END_REPLAY_MAX}`).then(
        (rows) => {
          for (const r of rows.reverse()) deliver(r.digest);
        },
        (e: unknown) => onError?.(this.wrap(e)),
      );
    };
    return this.listen(SESSION_END_CHANNEL, deliver, replay, onError, retryMs);
  }

  /** LISTEN on `channel` (postgres.js keeps one connection for every channel), retried every `retryMs` until it connects. */
  private listen(channel: string, onNotify: (payload: string) => void, onListen: () => void, onError: ((e: Error) => void) | undefined, retryMs: number): () => void {
    let stopped = false;
    let meta: postgres.ListenMeta | undefined;
    let timer: NodeJS.Timeout | undefined;
    const listen = (): void => {
      this.connection()
        .then((sql) => sql.listen(channel, onNotify, onListen))
        .then(
          (m) => {
            meta = m;
            if (stopped) void m.unlisten().catch(() => undefined);
          },
          (e: unknown) => {
            if (stopped) return;
            onError?.(this.wrap(e));
            timer = setTimeout(listen, retryMs);
            timer.unref();
          },
        );
    };
    listen();
    return () => {
      stopped = true;
      clearTimeout(timer);
      if (meta) void meta.unlisten().catch(() => undefined);
    };
  }

  /** Ends every connection (a command ends only once they are closed). */
  async close(): Promise<void> {
    const sql = this.sql;
    this.sql = undefined;
    if (sql) await sql.then((s) => s.end({ timeout: 5 }), () => undefined);
  }

  private toStored(row: ServerRow): StoredServer {
    const parsed = parseDocument({ schemaVersion: SCHEMA_VERSION, servers: { [row.name]: row.doc } });
    if (!parsed.ok) throw new AppError('corrupt', `server "${row.name}" in database ${this.where} is invalid; it was left unchanged:`, parsed.errors);
    if (!(SCOPES as readonly string[]).includes(row.scope)) throw new AppError('corrupt', `server "${row.name}" in database ${this.where} has an unknown scope "${row.scope}"`);
    return { scope: row.scope as Scope, location: this.where, server: parsed.value.servers[row.name]! };
  }

  /** The connection pool, opened (and the schema checked or migrated) on first use. */
  private connection(): Promise<Sql> {
    this.sql ??= (async () => {
      const { default: connect } = await import('postgres');
      const sql = connect(this.url, {
        max: 4,
        // Types are fetched per connection otherwise: a round trip a one-shot command does not need.
        fetch_types: false,
        connect_timeout: this.options.connectTimeoutS ?? 10,
        onnotice: () => undefined,
        // The LiveView's fallback poll keeps one connection busy; idle ones are let go.
        idle_timeout: 60,
        // The driver's own backoff grows to 10-20 s between connection attempts during an outage, failing every
        // query meanwhile: a router then served a stale registry for up to 20 s after the database came back.
        backoff: reconnectBackoffS,
      });
      try {
        await ensureSchema(sql, this.where);
        this.clock = await sampleDatabaseClock(sql);
      } catch (e) {
        await sql.end({ timeout: 1 }).catch(() => undefined);
        throw e;
      }
      return sql;
    })();
    // A failed first connection is not kept: the next call tries again.
    this.sql.catch(() => (this.sql = undefined));
    return this.sql;
  }

  private async run<R>(op: (sql: Sql) => Promise<R>): Promise<R> {
    try {
      return await op(await this.connection());
    } catch (e) {
      throw this.wrap(e);
    }
  }

  /** Our own errors pass as they are; the driver's are named after the database (without its password). */
  private wrap(e: unknown): AppError {
    if (e instanceof AppError) return e;
    const err = e as Error & { code?: string };
    const detail = err.message || err.code || String(e);
    return new AppError('io', `database ${this.where}: ${detail}`);
  }
}

/**
 * Seconds before the `retries`-th connection attempt after a failure: the driver's own curve (30 ms, 90 ms,
 * 270 ms, ... with jitter) held to at most 1 s, so a process sees the database within about a second of its
 * return. One connection attempt a second per process is little for a database to refuse.
 */
export function reconnectBackoffS(retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 1);
}

/** The stored document of one server (the file format's fields), its history cut to the newest `limit`. */
function serverDoc(server: ServerState, limit: number): unknown {
  const trimmed = server.history.length <= limit ? server : { ...server, history: server.history.slice(-limit) };
  const doc = serializeDocument({ schemaVersion: SCHEMA_VERSION, historyLimit: limit, servers: { [server.name]: trimmed } });
  return (doc.servers as Record<string, unknown>)[server.name];
}

async function selectServers(sql: Sql): Promise<ServerRow[]> {
  return sql<ServerRow[]>`SELECT name, scope, doc FROM mcp_rollout_servers`;
}

async function selectServer(sql: Sql | Tx, name: string): Promise<ServerRow | undefined> {
  const rows = await sql<ServerRow[]>`SELECT name, scope, doc FROM mcp_rollout_servers WHERE name = ${name}`;
  return rows[0];
}

async function selectKeyRing(sql: Sql, where: string): Promise<KeyRing | undefined> {
  const rows = await sql<{ ring: unknown }[]>`SELECT ring FROM mcp_rollout_keys WHERE id = 1`;
  return rows[0] === undefined ? undefined : parseRingRow(rows[0].ring, where);
}

function parseRingRow(data: unknown, where: string): KeyRing {
  const parsed = parseKeyRing(data);
  if (!parsed.ok) throw new AppError('corrupt', `the key ring in database ${where} (table mcp_rollout_keys) is invalid:`, parsed.errors);
  return parsed.value;
}

async function selectRevision(sql: Sql): Promise<string> {
  const rows = await sql<{ revision: string }[]>`SELECT revision::text AS revision FROM mcp_rollout_revision WHERE id = 1`;
  return rows[0]?.revision ?? '0';
}

/** Serialises writers of one server until the transaction ends; held on the name, so it covers a server not yet created. */
async function lockServer(tx: Tx, name: string): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(hashtext(${'mcp_rollout_server:' + name}))`;
}

async function deleteServer(tx: Tx, name: string): Promise<void> {
  await tx`DELETE FROM mcp_rollout_servers WHERE name = ${name}`;
}

async function upsertServer(tx: Tx, name: string, scope: Scope, doc: unknown): Promise<void> {
  await tx`INSERT INTO mcp_rollout_servers (name, scope, doc) VALUES (${name}, ${scope}, ${tx.json(doc as postgres.JSONValue)})
    ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, updated_at = now()`;
}

/** The records in their order, in one statement. */
async function appendLog(tx: Tx, scope: Scope, name: string, log: readonly LogRecord[]): Promise<void> {
  await tx`INSERT INTO mcp_rollout_log (scope, server, record)
    SELECT ${scope}, ${name}, r FROM jsonb_array_elements(${tx.json(log as unknown as postgres.JSONValue)}) WITH ORDINALITY AS t(r, n) ORDER BY n`;
}

/**
 * Last in the transaction, so the revision row is locked only until the commit just after: the counter's
 * order is the commit order, and a reader that saw revision n has every write up to n. The NOTIFY is
 * delivered at commit (never for a rolled-back write).
 */
async function bumpRevisionAndNotify(tx: Tx): Promise<void> {
  await tx`WITH r AS (UPDATE mcp_rollout_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision)
    SELECT pg_notify(${CHANGE_CHANNEL}, revision::text) FROM r`;
}
