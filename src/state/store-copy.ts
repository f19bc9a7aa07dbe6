/**
 * `store copy`: every server of a source store (a project's files, or a database), with its history, rollout
 * and deployment log, written to a database in one transaction. The target must not hold any of the names
 * already: a copy never merges two registries' states of one server, and a refused copy writes nothing.
 */
import { readFile } from 'node:fs/promises';
import type { LogRecord } from '../domain/deployment-log.js';
import type { Scope } from '../domain/types.js';
import { AppError } from '../errors.js';
import { JsonFileStore } from './json-file-store.js';
import type { PostgresStore } from './postgres-store.js';
import type { StoredServer } from './store.js';

export interface StoreSnapshot {
  servers: StoredServer[];
  /** The deployment log of those servers, oldest first. */
  log: { scope: Scope; record: LogRecord }[];
}

/** Every server a command run in project `dir` sees (all scopes), with each scope's log lines for them. */
export async function snapshotFiles(dir: string, env: NodeJS.ProcessEnv): Promise<StoreSnapshot> {
  const store = JsonFileStore.forEnvironment({ cwd: dir, env: { ...env, MCP_ROLLOUT_PROJECT_DIR: dir } });
  const servers = await store.list();
  const names = new Set(servers.map((s) => s.server.name));
  const log: StoreSnapshot['log'] = [];
  for (const scope of new Set(servers.map((s) => s.scope))) {
    const file = store.location(scope).logFile;
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new AppError('io', `cannot read deployment log ${file}: ${(e as Error).message}`);
    }
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        throw new AppError('corrupt', `deployment log ${file} line ${i + 1} is not JSON; nothing was copied`);
      }
      if (names.has(record.server)) log.push({ scope, record });
    });
  }
  return { servers, log };
}

/** Copies `snapshot` into `target`; returns the names copied. Throws `conflict` naming every name the target holds. */
export async function copyInto(target: PostgresStore, snapshot: StoreSnapshot): Promise<string[]> {
  await target.importServers(snapshot.servers, snapshot.log);
  return snapshot.servers.map((s) => s.server.name);
}
