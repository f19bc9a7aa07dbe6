/**
 * The one place that decides which store a command or a router uses: a PostgreSQL database when one is named
 * (`--store postgres://…`, else the MCP_ROLLOUT_STORE environment variable), else the scope files. A user who
 * never names a database gets the file store, exactly as before.
 */
import { AppError } from '../errors.js';
import { JsonFileStore } from './json-file-store.js';
import { PostgresStore, redactUrl } from './postgres-store.js';
import type { PathEnv } from './scope-paths.js';
import type { Store } from './store.js';

/** The environment variable naming the database every command and router shares. */
export const STORE_ENV = 'MCP_ROLLOUT_STORE';

/**
 * The store for `url` (or the environment's MCP_ROLLOUT_STORE when `url` is undefined; empty counts as unset).
 * Connects lazily. Throws AppError `io` naming the URL without its password when it is no PostgreSQL URL.
 */
export function openStore(p: PathEnv & { url?: string | undefined }): Store {
  const url = p.url ?? (p.env[STORE_ENV] || undefined);
  if (url === undefined) return JsonFileStore.forEnvironment({ cwd: p.cwd, env: p.env });
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') || parsed.hostname === '') {
    const from = p.url === undefined ? STORE_ENV : '--store';
    throw new AppError('io', `${from} "${redactUrl(url)}" is not a PostgreSQL URL (postgres://user@host:5432/database); leave it out to use the registry files`);
  }
  return new PostgresStore(url);
}
