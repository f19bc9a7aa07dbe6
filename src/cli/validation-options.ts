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

export const VALIDATION_OPTIONS: Record<string, OptionKind> = {
  smoke: 'string',
  'allow-breaking': 'boolean',
  'handshake-timeout': 'string',
  'request-timeout': 'string',
  'max-avg-latency': 'string',
  'max-latency': 'string',
};

export const VALIDATION_USAGE = '[--smoke <file>] [--allow-breaking] [--handshake-timeout <ms>] [--request-timeout <ms>] [--max-avg-latency <ms>] [--max-latency <ms>]';

function positive(args: ParsedArgs, option: string, fallback: number): number {
  const v = args.strings[option];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || n <= 0) throw new AppError('usage', `--${option} must be a positive number of milliseconds, got "${v}"`);
  return n;
}

/** Reads the options (and the smoke file) into ValidationOptions; bad values are usage errors. */
export async function validationOptions(args: ParsedArgs, cwd: string): Promise<ValidationOptions> {
  const opts: ValidationOptions = {
    ...DEFAULT_VALIDATION,
    handshakeTimeoutMs: positive(args, 'handshake-timeout', DEFAULT_VALIDATION.handshakeTimeoutMs),
    requestTimeoutMs: positive(args, 'request-timeout', DEFAULT_VALIDATION.requestTimeoutMs),
    maxAvgLatencyMs: positive(args, 'max-avg-latency', DEFAULT_VALIDATION.maxAvgLatencyMs),
    maxLatencyMs: positive(args, 'max-latency', DEFAULT_VALIDATION.maxLatencyMs),
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
