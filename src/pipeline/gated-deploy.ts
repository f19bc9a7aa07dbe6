/**
 * The validation gate: a new version is validated before it gets any traffic. A version that fails is
 * recorded inactive at 0% with the reason in its history; one that passes is deployed as asked.
 */
import type { CheckResult, ValidationOptions, ValidationReport } from '../checks/validation-spec.js';
import type { Contract } from '../domain/contract-diff.js';
import * as ops from '../domain/registry-ops.js';
import type { DeployRequest } from '../domain/registry-ops.js';
import { blueOf, type Scope, type ServerState, type ValidationSummary, type VersionRecord } from '../domain/types.js';
import type { ChangeResult, Registry } from '../registry/registry.js';
import { scopeConflict } from '../state/store.js';

/** How long a managed version's private instance may take to answer the handshake, ms (as serve's default --ready-timeout). */
const MANAGED_READY_TIMEOUT_MS = 30_000;

export interface GateOptions {
  /** Deploy without validating (the version is trusted as it is). */
  skip: boolean;
  validation: ValidationOptions;
}

export interface GatedDeployResult {
  change: ChangeResult;
  /** Absent when validation was skipped. */
  report?: ValidationReport;
  rejected: boolean;
}

/** Deploys `req` behind the gate. Bad input fails before anything is started. */
export async function gatedDeploy(registry: Registry, name: string, req: DeployRequest, scope: Scope | undefined, gate: GateOptions): Promise<GatedDeployResult> {
  const current = (await registry.list()).find((s) => s.server.name === name);
  // Fail on bad input with the same errors the real deploy would give, before any process starts.
  if (current && scope !== undefined && current.scope !== scope) throw scopeConflict(name, current, scope);
  ops.deploy(current?.server, name, req, 0);
  if (gate.skip) return { change: await registry.deploy(name, req, scope), rejected: false };
  const { report, summary } = await validateAgainstBlue(current?.server, req.version, req.transport, gate.validation);
  const change = await registry.deploy(
    name,
    { ...req, validation: summary, ...(report.contract ? { contract: report.contract } : {}), ...(report.ok ? {} : { rejected: summary.failures.join('; ') }) },
    scope,
  );
  return { change, report, rejected: !report.ok };
}

/**
 * Validates a version of `server` (registered or not), diffing its contract against the blue's when the
 * version is not the blue itself. The blue's stored contract is used, else it is read live.
 */
export async function validateAgainstBlue(
  server: ServerState | undefined,
  version: string,
  transport: VersionRecord | DeployRequest['transport'],
  options: ValidationOptions,
): Promise<{ report: ValidationReport; summary: ValidationSummary }> {
  const blue = server && blueOf(server);
  let stable: { version: string; contract: Contract } | undefined;
  let note: CheckResult | undefined;
  if (blue && blue.version !== version) {
    try {
      stable = { version: blue.version, contract: blue.contract ?? (await liveContract(blue, options)) };
    } catch (e) {
      note = { check: 'contract', ok: true, message: `not compared: could not read the contract of blue ${blue.version}: ${(e as Error).message}`, details: [] };
    }
  }
  // The protocol clients load only when a validation runs (commands that never validate stay light).
  const [{ validateTransport }, { withReachable }] = await Promise.all([import('../checks/validate.js'), import('../managed/private-instance.js')]);
  // A managed version is validated on a private instance of its own, started for this and stopped after.
  const report = await withReachable(version, transport, MANAGED_READY_TIMEOUT_MS, (t) => validateTransport(t, { ...options, ...(stable ? { stable } : {}) }), (message): ValidationReport => ({
    ok: false,
    checks: [{ check: 'handshake', ok: false, message, details: [] }],
  }));
  if (note) report.checks.push(note);
  const summary: ValidationSummary = {
    at: Date.now(),
    ok: report.ok,
    failures: report.checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.message}`),
    ...(report.diff && stable
      ? { diff: { against: stable.version, breaking: report.diff.breaking.map((c) => c.message), additive: report.diff.additive.map((c) => c.message) } }
      : {}),
  };
  return { report, summary };
}

async function liveContract(blue: VersionRecord, options: ValidationOptions): Promise<Contract> {
  const [{ connectVersion }, { discoverContract }, { withReachable }] = await Promise.all([import('../checks/connect-version.js'), import('../checks/discover-contract.js'), import('../managed/private-instance.js')]);
  return withReachable(blue.version, blue, MANAGED_READY_TIMEOUT_MS, async (t) => {
    const conn = await connectVersion(t, options.handshakeTimeoutMs, 'mcp-rollout-contract');
    try {
      return await discoverContract(conn.client, options.requestTimeoutMs);
    } finally {
      await conn.client.close().catch(() => undefined);
    }
  }, (message) => {
    throw new Error(message);
  });
}
