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
  /** ms for each request (default 5000). */
  requestTimeoutMs: number;
  /** Average and maximum latency of the calls made, ms (defaults 10 and 100: the design's criteria). */
  maxAvgLatencyMs: number;
  maxLatencyMs: number;
  /** ms a stdio server has to exit after its stdin closes (the SDK client waits 2000 before SIGTERM). */
  shutdownGraceMs: number;
  /** Tool calls to make; without them, read-only tools that need no arguments are called. */
  smoke?: SmokeCall[];
  /** The stable version's contract, to diff against. */
  stable?: { version: string; contract: Contract };
  /** A breaking contract diff passes (and is still reported). */
  allowBreaking: boolean;
}

export const DEFAULT_VALIDATION: ValidationOptions = {
  handshakeTimeoutMs: 10_000,
  requestTimeoutMs: 5_000,
  maxAvgLatencyMs: 10,
  maxLatencyMs: 100,
  shutdownGraceMs: 2_000,
  allowBreaking: false,
};

