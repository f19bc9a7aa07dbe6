/**
 * `store copy`: every server of a source store (a project's files, or a database), with its history, rollout
 * and deployment log, written to a database in one transaction. The target must not hold any of the names
 * already: a copy never merges two registries' states of one server, and a refused copy writes nothing.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { LogRecord } from '../domain/deployment-log.js';
import type { Scope } from '../domain/types.js';
import { AppError } from '../errors.js';
import { JsonFileStore } from './json-file-store.js';
import { readKeyRingFile } from './key-ring-file.js';
import type { KeyRing } from './key-ring.js';
import { configHome } from './scope-paths.js';
import type { PostgresStore } from './postgres-store.js';
import type { StoredServer } from './store.js';

export interface StoreSnapshot {
  servers: StoredServer[];
  /** The deployment log of those servers, oldest first. */
  log: { scope: Scope; record: LogRecord }[];
  /** The source's session key ring, when it has one: routers moved onto the target keep opening its ids. */
  keyRing?: KeyRing;
}

/**
 * The file store `path` names: a project directory (every scope a command run there sees), or one registry
 * file (a project's `.mcp-rollout/registry.json`, the global `registry.json`, or a `.mcprc`) with the
 * deployment log beside it. Throws AppError `not-found` when `path` does not exist: a mistyped source must not
 * read as an empty registry.
 */
export async function fileSource(path: string, env: NodeJS.ProcessEnv): Promise<JsonFileStore> {
  let isFile: boolean;
  try {
    isFile = (await stat(path)).isFile();
  } catch (e) {
    throw new AppError('not-found', `--from ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}; nothing was copied`);
  }
  if (!isFile) return JsonFileStore.forEnvironment({ cwd: path, env: { ...env, MCP_ROLLOUT_PROJECT_DIR: path } });
  const dir = dirname(path);
  if (basename(path) === '.mcprc') {
    return new JsonFileStore([{ scope: 'mcprc', file: path, logFile: join(dir, '.mcprc-deployments.jsonl'), embeddedKey: 'mcpRollout' }]);
  }
  const global = resolve(join(configHome(env), 'mcp-rollout', 'registry.json')) === resolve(path);
  return new JsonFileStore([{ scope: global ? 'global' : 'project', file: path, logFile: join(dir, 'deployments.jsonl') }]);
}

/** Every server the file store at `path` (see fileSource) holds, with each scope's log lines for them. */
export async function snapshotFiles(path: string, env: NodeJS.ProcessEnv): Promise<StoreSnapshot> {
  const store = await fileSource(path, env);
  const servers = await store.list();
  const keyRing = await readKeyRingFile(store.keysFile());
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
  return { servers, log, ...(keyRing ? { keyRing } : {}) };
}

/** What a copy did: the servers copied, and whether the source's key ring became the target's. */
export interface CopyOutcome {
  names: string[];
  /** 'copied': the target had none and now has the source's; 'kept': the target had its own; 'none': the source had none. */
  keyRing: 'copied' | 'kept' | 'none';
}

/**
 * Copies `snapshot` into `target`, with its key ring when the target has none yet (a target with a ring of its
 * own keeps it: its routers' ids must go on opening). Throws `conflict` naming every name the target holds.
 */
export async function copyInto(target: PostgresStore, snapshot: StoreSnapshot): Promise<CopyOutcome> {
  await target.importServers(snapshot.servers, snapshot.log, snapshot.keyRing);
  const names = snapshot.servers.map((s) => s.server.name);
  if (!snapshot.keyRing || names.length === 0) return { names, keyRing: 'none' };
  const now = await target.existingKeyRing();
  return { names, keyRing: now?.current.id === snapshot.keyRing.current.id ? 'copied' : 'kept' };
}
