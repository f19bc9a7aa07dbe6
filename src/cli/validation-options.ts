/**
 * The validation options shared by `deploy` and `validate`, and how their results are shown.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DEFAULT_VALIDATION, type ValidationOptions, type ValidationReport } from '../checks/validation-spec.js';
import { parseSmokeFile } from '../checks/smoke-file.js';
import { AppError } from '../errors.js';
import type { OptionKind, ParsedArgs } from './args.js';
import { paint, type Style } from './format.js';
import { durationOption } from './rollout-options.js';

export const VALIDATION_OPTIONS: Record<string, OptionKind> = {
  smoke: 'string',
  'allow-breaking': 'boolean',
  'handshake-timeout': 'string',
  'request-timeout': 'string',
  'call-timeout': 'string',
  'max-avg-latency': 'string',
  'max-latency': 'string',
};

export const VALIDATION_USAGE =
  '[--smoke <file>] [--allow-breaking] [--handshake-timeout 10s] [--request-timeout 5s] [--call-timeout 30s] [--max-avg-latency 100ms] [--max-latency 1s]';

/** Reads the options (and the smoke file) into ValidationOptions; bad values are usage errors. */
export async function validationOptions(args: ParsedArgs, cwd: string): Promise<ValidationOptions> {
  const opts: ValidationOptions = {
    ...DEFAULT_VALIDATION,
    // Durations (`1500ms`, `10s`), each at least 1 ms: a zero deadline or limit would refuse every server.
    handshakeTimeoutMs: durationOption(args, 'handshake-timeout', DEFAULT_VALIDATION.handshakeTimeoutMs, 1),
    requestTimeoutMs: durationOption(args, 'request-timeout', DEFAULT_VALIDATION.requestTimeoutMs, 1),
    callTimeoutMs: durationOption(args, 'call-timeout', DEFAULT_VALIDATION.callTimeoutMs, 1),
    maxAvgLatencyMs: durationOption(args, 'max-avg-latency', DEFAULT_VALIDATION.maxAvgLatencyMs, 1),
    maxLatencyMs: durationOption(args, 'max-latency', DEFAULT_VALIDATION.maxLatencyMs, 1),
    allowBreaking: args.flags['allow-breaking'] === true,
  };
  const smoke = args.strings.smoke;
  if (smoke === undefined) return opts;
  const file = resolve(cwd, smoke);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new AppError('invalid', `cannot read smoke file ${file}: ${(e as Error).message}`);
  }
  const parsed = parseSmokeFile(raw);
  if (!parsed.ok) throw new AppError('invalid', `smoke file ${file} is invalid:`, parsed.errors);
  return { ...opts, smoke: parsed.value };
}

/** `[PASS] handshake: ...` lines, details indented under their check. */
export function renderReport(report: ValidationReport, style: Style): string[] {
  return report.checks.flatMap((c) => [
    `${c.ok ? paint(style, 'green', '[PASS]') : paint(style, 'red', '[FAIL]')} ${c.check}: ${c.message}`,
    ...c.details.map((d) => `       ${d}`),
  ]);
}
