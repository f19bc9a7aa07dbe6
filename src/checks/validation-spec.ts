/**
 * What validation checks, is told and reports: the plain data of the suite (no protocol code), so commands
 * can parse options and render reports without loading the SDK clients validate.ts needs.
 */
import type { Contract, ContractDiff } from '../domain/contract-diff.js';
import type { ProtocolEra } from './connect-version.js';
import type { SmokeCall } from './smoke-file.js';

export type CheckName = 'handshake' | 'discovery' | 'tool-calls' | 'error-handling' | 'latency' | 'contract' | 'shutdown';

export interface CheckResult {
  check: CheckName;
  ok: boolean;
  message: string;
  details: string[];
}

export interface ValidationReport {
  ok: boolean;
  checks: CheckResult[];
  /** The era the handshake found; absent when there was no handshake. */
  era?: ProtocolEra;
  contract?: Contract;
  diff?: ContractDiff;
}

export interface ValidationOptions {
  /** ms for the server to start and complete its era's handshake: server/discover, else initialize (default 10000). */
  handshakeTimeoutMs: number;
  /** ms for each protocol request: listings, `ping` (default 5000). */
  requestTimeoutMs: number;
  /**
   * ms for each tool call (default 30000): tools do real work (a reference server's read-only tool runs 10 s),
   * so a call gets its own, longer deadline; one that passes it is cancelled (`notifications/cancelled`).
   */
  callTimeoutMs: number;
  /**
   * Latency limits, ms, on the protocol requests sampled (`ping`, `tools/list`): average and maximum. A smoke
   * call is held to its own `maxLatencyMs`, else to `maxLatencyMs`; other tool calls are judged by outcome only.
   */
  maxAvgLatencyMs: number;
  maxLatencyMs: number;
  /**
   * ms a stdio server has after its stdin closes before SIGTERM, and again after SIGTERM before SIGKILL (the
   * MCP stdio shutdown; default 2000, as the SDK client). Exiting at either step passes; needing SIGKILL fails.
   */
  shutdownGraceMs: number;
  /** Tool calls to make; without them, read-only tools that need no arguments are called. */
  smoke?: SmokeCall[];
  /** The stable version's contract, to diff against. */
  stable?: { version: string; contract: Contract };
  /** A breaking contract diff passes (and is still reported). */
  allowBreaking: boolean;
}

/*
 * The latency defaults are for protocol requests a local server answers from memory (about 1-5 ms here): an
 * average of 100 ms and a maximum of 1 s leave room for a loaded 2-core machine and a GC pause, and still refuse
 * a server that needs a tenth of a second for every listing.
 */
export const DEFAULT_VALIDATION: ValidationOptions = {
  handshakeTimeoutMs: 10_000,
  requestTimeoutMs: 5_000,
  callTimeoutMs: 30_000,
  maxAvgLatencyMs: 100,
  maxLatencyMs: 1_000,
  shutdownGraceMs: 2_000,
  allowBreaking: false,
};
