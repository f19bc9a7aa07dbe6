/**
 * The file store: one JSON document per scope, every write atomic and under an inter-process lock.
 * A file that cannot be read as it is stops the command with one error naming the file; it is never replaced.
 */
import { appendFile, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { RolloutDriver, Scope, ServerState } from '../domain/types.js';
import { AppError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { withFileLock } from './file-lock.js';
import type { KeyRing } from './key-ring.js';
import { ensureKeyRingFile, rotateKeyRingFile } from './key-ring-file.js';
import type { LeaseState, RolloutLeaseStore } from './fleet-store.js';
import { LeaseFile } from './lease-file.js';
import {
  emptyDocument,
  holdsSecrets,
  parseDocument,
  serializeDocument,
  type RegistryDocument,
} from './registry-document.js';
import { describeScopeFiles, scopeLocations, type PathEnv, type ScopeLocation } from './scope-paths.js';
import { scopeConflict, type Store, type StoredServer, type UpdateOutcome, type UpdateResult } from './store.js';

interface LoadedScope {
  doc: RegistryDocument;
  /** The whole JSON object of a shared file (for example `.mcprc`), kept so other tools' keys survive. */
  container?: Record<string, unknown>;
  /** Permission bits of the existing file. */
  mode?: number;
}

export interface JsonFileStoreOptions {
  /** How long a writer waits for another's lock, in ms (default 15000). */
  lockTimeoutMs?: number;
}

export class JsonFileStore implements Store, RolloutLeaseStore {
  constructor(
    private readonly locations: readonly ScopeLocation[],
    private readonly options: JsonFileStoreOptions = {},
  ) {}

  /** A store over the standard scope files for this working directory and environment. */
  static forEnvironment(p: PathEnv, options?: JsonFileStoreOptions): JsonFileStore {
    return new JsonFileStore(scopeLocations(p), options);
  }

  /** The location of `scope`. */
  location(scope: Scope): ScopeLocation {
    const loc = this.locations.find((l) => l.scope === scope);
    if (!loc) throw new AppError('invalid', `scope "${scope}" is not configured`);
    return loc;
  }

  async list(): Promise<StoredServer[]> {
    const found = new Map<string, StoredServer>();
    for (const loc of this.locations) {
      const { doc } = await this.load(loc);
      for (const [name, server] of Object.entries(doc.servers)) {
        const other = found.get(name);
        if (other) {
          throw new AppError(
            'conflict',
            `server "${name}" is defined in two scopes: ${other.scope} (${other.location}) and ${loc.scope} (${loc.file}); remove it from one`,
          );
        }
        found.set(name, { scope: loc.scope, location: loc.file, server });
      }
    }
    return [...found.values()].sort((a, b) => a.server.name.localeCompare(b.server.name));
  }

  /** Identity, size and modification time of every scope file (a write replaces the file: a new inode). */
  async revision(): Promise<string> {
    const parts = await Promise.all(
      this.locations.map((loc) =>
        stat(loc.file).then(
          (s) => `${s.ino}:${s.size}:${s.mtimeMs}`,
          () => '-',
        ),
      ),
    );
    return parts.join('|');
  }

  /** The session key ring, `keys.json` beside the project registry (key-ring-file.ts), made on first use. */
  keyRing(): Promise<KeyRing> {
    return ensureKeyRingFile(this.keysFile(), this.options.lockTimeoutMs);
  }

  rotateKeys(): Promise<KeyRing> {
    return rotateKeyRingFile(this.keysFile(), this.options.lockTimeoutMs);
  }

  keyRingLocation(): string {
    return this.keysFile();
  }

  /** `keys.json` in the project scope's directory (the first scope's when there is no project scope). */
  keysFile(): string {
    return join(dirname(this.home('its key ring').file), 'keys.json');
  }

  /**
   * See RolloutLeaseStore. A rollout's lease lives beside the registry file of the scope its server lives in
   * (`leases.json`; `.mcprc-leases.json` beside a `.mcprc`), under that file's lock (lease-file.ts).
   */
  async acquireLease(server: string, holder: RolloutDriver, ttlMs: number): Promise<boolean> {
    return (await this.leases(server)).acquire(server, holder, ttlMs);
  }

  async renewLease(server: string, holder: RolloutDriver, ttlMs: number): Promise<boolean> {
    return (await this.leases(server)).renew(server, holder, ttlMs);
  }

  async releaseLease(server: string, holder: RolloutDriver): Promise<void> {
    await (await this.leases(server)).release(server, holder);
  }

  async lease(server: string): Promise<LeaseState | undefined> {
    return (await this.leases(server)).lease(server);
  }

  /** The lease file of `server`'s scope (the project's for a server not registered). */
  private async leases(server: string): Promise<LeaseFile> {
    const found = await this.get(server);
    const loc = found ? this.location(found.scope) : this.home('its rollout leases');
    const name = loc.embeddedKey === undefined ? 'leases.json' : '.mcprc-leases.json';
    return new LeaseFile(join(dirname(loc.file), name), loc.file, this.options.lockTimeoutMs);
  }

  /** The project scope (the first when there is none): where the store keeps what is not in a registry document. */
  private home(what: string): ScopeLocation {
    const loc = this.locations.find((l) => l.scope === 'project') ?? this.locations[0];
    if (!loc) throw new AppError('invalid', `the file store has no scope to keep ${what} beside`);
    return loc;
  }

  /** Each scope file and whether it exists (see describeScopeFiles). */
  whereLooked(): string {
    return describeScopeFiles(this.locations);
  }

  async get(name: string): Promise<StoredServer | undefined> {
    return (await this.list()).find((s) => s.server.name === name);
  }

  async update<T>(
    name: string,
    scope: Scope | undefined,
    fn: (current: ServerState | undefined) => UpdateOutcome<T>,
  ): Promise<UpdateResult<T>> {
    const existing = await this.get(name);
    if (existing && scope !== undefined && existing.scope !== scope) {
      throw scopeConflict(name, existing, scope);
    }
    const loc = this.location(existing?.scope ?? scope ?? 'project');
    const value = await withFileLock(
      loc.file,
      async () => {
        const loaded = await this.load(loc);
        const outcome = fn(loaded.doc.servers[name]);
        if (outcome.log.length === 0) return outcome.value;
        const { doc } = loaded;
        if (outcome.server === undefined) delete doc.servers[name];
        else doc.servers[name] = trim(outcome.server, doc.historyLimit);
        await this.save(loc, loaded);
        await appendFile(loc.logFile, outcome.log.map((r) => JSON.stringify(r) + '\n').join(''), { mode: 0o600 });
        return outcome.value;
      },
      this.options.lockTimeoutMs === undefined ? {} : { timeoutMs: this.options.lockTimeoutMs },
    );
    return { value, scope: loc.scope, location: loc.file };
  }

  private async load(loc: ScopeLocation): Promise<LoadedScope> {
    let text: string;
    let mode: number;
    try {
      text = await readFile(loc.file, 'utf8');
      mode = (await stat(loc.file)).mode & 0o777;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { doc: emptyDocument() };
      throw new AppError('io', `cannot read registry file ${loc.file}: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new AppError('corrupt', `registry file ${loc.file} is not valid JSON (${(e as Error).message}); fix or move it, it was left unchanged`);
    }
    let data = json;
    let container: Record<string, unknown> | undefined;
    if (loc.embeddedKey !== undefined) {
      if (typeof json !== 'object' || json === null || Array.isArray(json)) {
        throw new AppError('corrupt', `${loc.file} must hold a JSON object; it was left unchanged`);
      }
      container = json as Record<string, unknown>;
      data = container[loc.embeddedKey];
      if (data === undefined) return { doc: emptyDocument(), container, mode };
    }
    const parsed = parseDocument(data);
    if (!parsed.ok) {
      const where = loc.embeddedKey === undefined ? '' : ` (under "${loc.embeddedKey}")`;
      throw new AppError('corrupt', `registry file ${loc.file}${where} is invalid; it was left unchanged:`, parsed.errors);
    }
    return container === undefined ? { doc: parsed.value, mode } : { doc: parsed.value, container, mode };
  }

  private async save(loc: ScopeLocation, loaded: LoadedScope): Promise<void> {
    const data = serializeDocument(loaded.doc);
    const whole = loc.embeddedKey === undefined ? data : { ...loaded.container, [loc.embeddedKey]: data };
    // Environment and header values may be secrets: such a file is readable by its owner only.
    const mode = holdsSecrets(loaded.doc) ? 0o600 : (loaded.mode ?? 0o644);
    try {
      await writeFileAtomic(loc.file, JSON.stringify(whole, null, 2) + '\n', mode);
    } catch (e) {
      throw new AppError('io', `cannot write registry file ${loc.file}: ${(e as Error).message}`);
    }
  }
}

function trim(server: ServerState, limit: number): ServerState {
  return server.history.length <= limit ? server : { ...server, history: server.history.slice(-limit) };
}
