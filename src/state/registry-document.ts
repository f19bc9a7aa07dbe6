/**
 * The registry's on-disk document: parsing with path-named errors, schema-version handling, serialisation.
 * Pure (no fs): the file store feeds it text and writes what it returns.
 */
import { checkServer } from '../domain/invariants.js';
import { isServerName } from '../domain/server-name.js';
import { checkStoredSpec } from '../domain/managed-spec.js';
import {
  STATUSES,
  TRANSPORT_TYPES,
  type HistoryEntry,
  type RolloutRecord,
  type ServerState,
  type VersionRecord,
} from '../domain/types.js';

/** The schema this build writes and the newest it reads. */
export const SCHEMA_VERSION = 1;
export const DEFAULT_HISTORY_LIMIT = 1000;

export interface RegistryDocument {
  schemaVersion: number;
  /** Newest history entries kept per server. */
  historyLimit: number;
  servers: Record<string, ServerState>;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: string[] };

export function emptyDocument(): RegistryDocument {
  return { schemaVersion: SCHEMA_VERSION, historyLimit: DEFAULT_HISTORY_LIMIT, servers: {} };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringMap = (v: unknown): v is Record<string, string> => isObj(v) && Object.values(v).every((x) => typeof x === 'string');
const isEpoch = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/**
 * Validates a parsed JSON value as a registry document. Every problem is reported as `path: message`;
 * the registry invariants (one blue, sums of 100, ...) are checked too. A newer schema is refused.
 */
export function parseDocument(raw: unknown): Parsed<RegistryDocument> {
  if (!isObj(raw)) return { ok: false, errors: ['(root): must be a JSON object'] };
  const errors: string[] = [];
  const schema = raw.schemaVersion;
  if (!Number.isInteger(schema) || (schema as number) < 1) {
    return { ok: false, errors: [`schemaVersion: must be a positive integer, got ${JSON.stringify(schema)}`] };
  }
  if ((schema as number) > SCHEMA_VERSION) {
    return {
      ok: false,
      errors: [`schemaVersion: ${String(schema)} was written by a newer mcp-rollout (this one reads up to ${SCHEMA_VERSION}); upgrade mcp-rollout`],
    };
  }
  const historyLimit = raw.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  if (!Number.isInteger(historyLimit) || (historyLimit as number) < 1) {
    errors.push(`historyLimit: must be a positive integer, got ${JSON.stringify(historyLimit)}`);
  }
  if (!isObj(raw.servers)) {
    errors.push('servers: must be an object mapping server names to servers');
    return { ok: false, errors };
  }
  const servers: Record<string, ServerState> = {};
  for (const [name, value] of Object.entries(raw.servers)) {
    const server = parseServer(name, value, `servers.${name}`, errors);
    if (server) {
      errors.push(...checkServer(server));
      servers[name] = server;
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: { schemaVersion: SCHEMA_VERSION, historyLimit: historyLimit as number, servers } };
}

function parseServer(name: string, v: unknown, at: string, errors: string[]): ServerState | undefined {
  if (!isServerName(name)) errors.push(`${at}: "${name}" is not a valid server name`);
  if (!isObj(v)) {
    errors.push(`${at}: must be an object`);
    return undefined;
  }
  const before = errors.length;
  if (!Array.isArray(v.versions)) errors.push(`${at}.versions: must be an array`);
  const versions = Array.isArray(v.versions) ? v.versions.map((r, i) => parseVersion(r, `${at}.versions[${i}]`, errors)) : [];
  const h = v.mcpVersionHistory;
  if (!isObj(h)) {
    errors.push(`${at}.mcpVersionHistory: must be an object`);
  } else {
    if (!Array.isArray(h.versions) || !h.versions.every((x) => typeof x === 'string')) {
      errors.push(`${at}.mcpVersionHistory.versions: must be an array of version strings`);
    }
    if (h.currentBlue !== null && typeof h.currentBlue !== 'string') {
      errors.push(`${at}.mcpVersionHistory.currentBlue: must be a version string or null`);
    }
    const lr = h.lastRollback;
    if (lr !== null && lr !== undefined) {
      if (!isObj(lr) || typeof lr.fromVersion !== 'string' || typeof lr.toVersion !== 'string' || !isEpoch(lr.timestamp) || typeof lr.reason !== 'string') {
        errors.push(`${at}.mcpVersionHistory.lastRollback: must be null or {fromVersion, toVersion, timestamp, reason}`);
      }
    }
    const stack = h.rollbackStack ?? [];
    if (!Array.isArray(stack) || !stack.every((x) => typeof x === 'string')) {
      errors.push(`${at}.mcpVersionHistory.rollbackStack: must be an array of version strings`);
    }
  }
  const history = v.history ?? [];
  if (!Array.isArray(history)) errors.push(`${at}.history: must be an array`);
  else history.forEach((e, i) => checkHistoryEntry(e, `${at}.history[${i}]`, errors));
  const rollout = v.rollout;
  if (rollout !== undefined && (!isObj(rollout) || !isObj(rollout.spec) || !isObj(rollout.status) || !Array.isArray(rollout.events))) {
    errors.push(`${at}.rollout: must be {spec, status, events}`);
  }
  if (errors.length > before || !isObj(h)) return undefined;
  return {
    name,
    ...(rollout === undefined ? {} : { rollout: rollout as unknown as RolloutRecord }),
    versions: versions as VersionRecord[],
    mcpVersionHistory: {
      versions: h.versions as string[],
      currentBlue: h.currentBlue as string | null,
      lastRollback: (h.lastRollback ?? null) as ServerState['mcpVersionHistory']['lastRollback'],
      rollbackStack: (h.rollbackStack ?? []) as string[],
    },
    history: history as HistoryEntry[],
  };
}

function parseVersion(r: unknown, at: string, errors: string[]): VersionRecord | undefined {
  if (!isObj(r)) {
    errors.push(`${at}: must be an object`);
    return undefined;
  }
  if (typeof r.version !== 'string') errors.push(`${at}.version: must be a string`);
  if (!STATUSES.includes(r.status as never)) errors.push(`${at}.status: must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(r.status)}`);
  if (!isEpoch(r.deploymentTimestamp)) errors.push(`${at}.deploymentTimestamp: must be epoch milliseconds`);
  if (r.health !== undefined && !['unknown', 'healthy', 'unhealthy'].includes(r.health as string)) {
    errors.push(`${at}.health: must be unknown, healthy or unhealthy`);
  }
  if (r.validation !== undefined && (!isObj(r.validation) || typeof r.validation.ok !== 'boolean' || !isEpoch(r.validation.at))) {
    errors.push(`${at}.validation: must be {at, ok, failures}`);
  }
  if (r.contract !== undefined && (!isObj(r.contract) || !Array.isArray(r.contract.tools))) errors.push(`${at}.contract: must be {tools, prompts, resources, resourceTemplates}`);
  switch (r.type) {
    case 'stdio':
      if (typeof r.command !== 'string' || r.command === '') errors.push(`${at}.command: must be a non-empty string`);
      if (!Array.isArray(r.args) || !r.args.every((a) => typeof a === 'string')) errors.push(`${at}.args: must be an array of strings`);
      if (!isStringMap(r.env)) errors.push(`${at}.env: must be an object of strings`);
      if (r.cwd !== undefined && typeof r.cwd !== 'string') errors.push(`${at}.cwd: must be a string`);
      break;
    case 'http':
    case 'sse':
      if (typeof r.url !== 'string' || !isHttpUrl(r.url)) errors.push(`${at}.url: must be an http(s) URL`);
      if (!isStringMap(r.headers)) errors.push(`${at}.headers: must be an object of strings`);
      if (r.managed !== undefined) errors.push(...(r.type === 'http' ? checkStoredSpec(r.managed, `${at}.managed`) : [`${at}.managed: only an http version can be managed`]));
      break;
    default:
      errors.push(`${at}.type: must be one of ${TRANSPORT_TYPES.join(', ')}, got ${JSON.stringify(r.type)}`);
  }
  // trafficPercentage is range-checked with the other invariants.
  if (typeof r.trafficPercentage !== 'number') errors.push(`${at}.trafficPercentage: must be a number`);
  return r as unknown as VersionRecord;
}

const HISTORY_KINDS = ['registered', 'status', 'traffic', 'rollback', 'removed', 'health', 'validated', 'process'];
function checkHistoryEntry(e: unknown, at: string, errors: string[]): void {
  if (!isObj(e) || !HISTORY_KINDS.includes(e.kind as string) || !isEpoch(e.timestamp) || typeof e.version !== 'string') {
    errors.push(`${at}: must be a history entry with kind (${HISTORY_KINDS.join(', ')}), timestamp and version`);
  }
}

/** True for an absolute http: or https: URL. */
export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The document as stored: the design's field names, a trailing newline. */
export function serializeDocument(doc: RegistryDocument): Record<string, unknown> {
  const servers: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(doc.servers)) {
    servers[name] = { versions: s.versions, mcpVersionHistory: s.mcpVersionHistory, history: s.history, ...(s.rollout ? { rollout: s.rollout } : {}) };
  }
  return { schemaVersion: SCHEMA_VERSION, historyLimit: doc.historyLimit, servers };
}

/** True when any version in the document carries environment values (which may be secrets). */
export function holdsSecrets(doc: RegistryDocument): boolean {
  return Object.values(doc.servers).some((s) =>
    s.versions.some((v) => (v.type === 'stdio' && Object.keys(v.env).length > 0) || (v.type !== 'stdio' && (Object.keys(v.headers).length > 0 || Object.keys(v.managed?.env ?? {}).length > 0))),
  );
}
