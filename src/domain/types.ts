/**
 * The registry's data model: servers, their versions and the history of changes.
 * Pure data; no I/O. Field names follow the design (`version`, `status`, `trafficPercentage`,
 * `deploymentTimestamp`) because users script against them.
 */

import type { Contract } from './contract-diff.js';
import type { Command as RolloutCommand, RolloutEvent, RolloutSpec, RolloutStatus } from './rollout-controller.js';

export type Status = 'blue' | 'green' | 'inactive';
export const STATUSES: readonly Status[] = ['blue', 'green', 'inactive'];

export type TransportType = 'stdio' | 'http' | 'sse';
export const TRANSPORT_TYPES: readonly TransportType[] = ['stdio', 'http', 'sse'];

export type Scope = 'project' | 'global' | 'mcprc';
export const SCOPES: readonly Scope[] = ['project', 'global', 'mcprc'];

export type Health = 'unknown' | 'healthy' | 'unhealthy';

/**
 * How to reach one version: a process to spawn (stdio) or a URL (http = Streamable HTTP, sse = legacy HTTP+SSE).
 * An http version with `managed` is a server the router starts itself (see domain/managed-spec.ts); its `url`
 * then names port 0 when the port is chosen at start (`--port auto`), and only the router knows the real one.
 */
export type Transport =
  | { type: 'stdio'; command: string; args: string[]; env: Record<string, string>; cwd?: string }
  | { type: 'http' | 'sse'; url: string; headers: Record<string, string>; managed?: ManagedSpec };

/** An HTTP server process the router runs for a version (`mcp-deploy --type http --command ... --port ...`). */
export interface ManagedSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** A fixed TCP port, or 'auto': a free port chosen each time the process starts. */
  port: number | 'auto';
  /** The MCP endpoint's path on that port, starting with '/' (default /mcp). */
  path: string;
}

/** The outcome of the last validation of a version (see checks/validate). */
export interface ValidationSummary {
  /** Epoch ms. */
  at: number;
  ok: boolean;
  /** One line per failing check: "latency: average 85 ms ...". */
  failures: string[];
  /** The contract diff against the blue at the time, one line per change. */
  diff?: { against: string; breaking: string[]; additive: string[] };
}

/** One deployed version of a server, as stored. */
export type VersionRecord = Transport & {
  version: string;
  status: Status;
  /** Integer 0-100. */
  trafficPercentage: number;
  /** Epoch milliseconds. */
  deploymentTimestamp: number;
  health?: Health;
  validation?: ValidationSummary;
  /** The tools, prompts and resources it offered when last validated. */
  contract?: Contract;
};

export interface RollbackRecord {
  fromVersion: string;
  toVersion: string;
  /** Epoch milliseconds. */
  timestamp: number;
  reason: string;
}

/** One entry of a server's ordered history. `version` names the version the entry is about. */
export type HistoryEntry =
  | { kind: 'registered'; timestamp: number; version: string; status: Status; trafficPercentage: number; reason?: string }
  | { kind: 'status'; timestamp: number; version: string; from: Status; to: Status; reason?: string }
  | { kind: 'traffic'; timestamp: number; version: string; from: number; to: number; reason?: string }
  | { kind: 'rollback'; timestamp: number; version: string; fromVersion: string; toVersion: string; reason: string }
  | { kind: 'removed'; timestamp: number; version: string; reason?: string }
  | { kind: 'health'; timestamp: number; version: string; from: Health; to: Health; reason?: string }
  | { kind: 'validated'; timestamp: number; version: string; ok: boolean; reason?: string }
  /** A managed version's process: started again after it died, or held (too many deaths in a row). */
  | { kind: 'process'; timestamp: number; version: string; event: ProcessEvent; reason: string };

/** What happened to a managed version's process: restarted after a death, restarts held, stopped once retired and drained. */
export type ProcessEvent = 'restarted' | 'held' | 'stopped';

/** The design's per-server summary record. */
export interface VersionHistoryRecord {
  /** Every version ever deployed, in deployment order (removed ones included). */
  versions: string[];
  currentBlue: string | null;
  lastRollback: RollbackRecord | null;
  /** Previous blues, most recent last: where rolling back the blue returns to. */
  rollbackStack: string[];
}

/** A rollout in progress or the last one finished: the controller's spec, status and event log. */
export interface RolloutRecord {
  spec: RolloutSpec;
  status: RolloutStatus;
  /** The newest events, oldest first. */
  events: RolloutEvent[];
  /** A person's request waiting for the runner (promote, abort, resume). */
  command?: RolloutCommand;
  /**
   * The process driving it, so a second driver is refused while the first is alive. Taken over only by an
   * atomic claim (`claimRollout`) that names the driver it found dead; every save of a tick checks it.
   */
  driver?: RolloutDriver;
}

/** Who drives a rollout: a process id on a host (compared by both; see `sameDriver`). */
export interface RolloutDriver {
  pid: number;
  host: string;
}

/** Everything the registry knows about one server. */
export interface ServerState {
  name: string;
  rollout?: RolloutRecord;
  /** Current versions in deployment order. */
  versions: VersionRecord[];
  mcpVersionHistory: VersionHistoryRecord;
  history: HistoryEntry[];
}

export function emptyServer(name: string): ServerState {
  return {
    name,
    versions: [],
    mcpVersionHistory: { versions: [], currentBlue: null, lastRollback: null, rollbackStack: [] },
    history: [],
  };
}

export function findVersion(server: ServerState, version: string): VersionRecord | undefined {
  return server.versions.find((v) => v.version === version);
}

export function blueOf(server: ServerState): VersionRecord | undefined {
  return server.versions.find((v) => v.status === 'blue');
}

export function cloneServer(server: ServerState): ServerState {
  return structuredClone(server);
}
