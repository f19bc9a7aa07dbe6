/**
 * mcp-migrate's logic: import every client server entry not yet registered as one blue version at 100%.
 * Idempotent: a server already in the registry (any scope) is skipped and says so.
 */
import { isSemver } from '../domain/semver.js';
import { isServerName } from '../domain/server-name.js';
import type { Scope, Transport } from '../domain/types.js';
import { AppError } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import { scanClientConfigs, type ClientConfigFile } from './client-configs.js';

export interface MigrateOptions {
  /** Version given to imported servers (default 1.0.0). */
  version?: string;
  scope?: Scope;
  /** Report what would be imported, write nothing. */
  dryRun?: boolean;
}

export interface MigrateReport {
  imported: { name: string; version: string; from: string; client: string; transport: Transport }[];
  skipped: { name: string; from: string; client: string; reason: string }[];
  unreadable: { file: string; error: string }[];
  read: string[];
}

export async function migrate(registry: Registry, files: readonly ClientConfigFile[], opts: MigrateOptions = {}): Promise<MigrateReport> {
  const version = opts.version ?? '1.0.0';
  if (!isSemver(version)) throw new AppError('invalid', `--version "${version}" is not a semantic version such as 1.0.0`);
  const scan = await scanClientConfigs(files);
  const registered = new Map((await registry.list()).map((s) => [s.server.name, s]));
  const report: MigrateReport = { imported: [], skipped: [], unreadable: scan.unreadable, read: scan.read };
  const taken = new Map<string, string>();
  for (const e of scan.entries) {
    const skip = (reason: string): void => void report.skipped.push({ name: e.name, from: e.file, client: e.client, reason });
    const existing = registered.get(e.name);
    if ('error' in e.transport) skip(e.transport.error);
    else if (!isServerName(e.name)) skip('name is not usable as a server name (letters, digits, ".", "_", "-")');
    else if (existing) skip(`already registered (${existing.scope} scope, ${existing.location})`);
    else if (taken.has(e.name)) skip(`already imported from ${taken.get(e.name)}`);
    else {
      if (!opts.dryRun) await registry.deploy(e.name, { version, transport: e.transport, blue: true }, opts.scope);
      taken.set(e.name, e.file);
      report.imported.push({ name: e.name, version, from: e.file, client: e.client, transport: e.transport });
    }
  }
  return report;
}
