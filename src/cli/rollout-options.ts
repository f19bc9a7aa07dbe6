/**
 * The rollout options of `deploy` (--strategy and friends), and how rollout events are shown.
 */
import { DEFAULT_THRESHOLDS } from '../domain/analysis.js';
import { parseSteps, type RolloutEvent, type RolloutSpec } from '../domain/rollout-controller.js';
import { AppError } from '../errors.js';
import type { OptionKind, ParsedArgs } from './args.js';
import { formatTime } from './format.js';

export const ROLLOUT_OPTIONS: Record<string, OptionKind> = {
  strategy: 'string',
  steps: 'string',
  interval: 'string',
  bake: 'string',
  'failure-limit': 'string',
  'max-error-rate': 'string',
  'min-requests': 'string',
  'min-tool-calls': 'string',
  detach: 'boolean',
};

export const ROLLOUT_USAGE = '[--strategy canary --steps 10,25,50,100 --interval 30s | --strategy bluegreen --bake 60s] [--failure-limit 1] [--max-error-rate 10] [--min-requests 20] [--min-tool-calls 10] [--detach]';

/**
 * `500ms`, `30s`, `2m`, `1h` (decimals allowed: `1.5s`) -> milliseconds, rounded. Every duration option of every
 * command reads this one syntax. A bare number is refused (commands once disagreed on whether it meant ms or
 * seconds, so a script's `30` means different things to different readers); `0` alone means zero, which needs no
 * unit. Throws a usage error naming the option and the word.
 */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new AppError('usage', `--${option} "${text}" is not a duration such as 500ms, 30s, 5m or 1h`);
  const amount = m[1]!;
  const unit = m[2] as 'ms' | 's' | 'm' | 'h' | undefined;
  if (unit === undefined) {
    if (Number(amount) === 0) return 0;
    throw new AppError('usage', `--${option} "${text}" needs a unit: ${amount}ms, ${amount}s or ${amount}m`);
  }
  return Math.round(Number(amount) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]);
}

/** A duration option in ms: `fallback` when absent; a usage error below `minMs`. */
export function durationOption(args: ParsedArgs, option: string, fallback: number, minMs = 0): number {
  const text = args.strings[option];
  if (text === undefined) return fallback;
  const ms = parseDuration(text, option);
  if (ms < minMs) throw new AppError('usage', `--${option} must be at least ${minMs}ms, got "${text}"`);
  return ms;
}

function count(args: ParsedArgs, option: string, fallback: number, min: number, max: number): number {
  const v = args.strings[option];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new AppError('usage', `--${option} must be an integer from ${min} to ${max}, got "${v}"`);
  return n;
}

/** The rollout asked for, or undefined when --strategy is absent. Combinations that make no sense are usage errors. */
export function rolloutSpecFrom(args: ParsedArgs, server: string, version: string): RolloutSpec | undefined {
  const strategy = args.strings.strategy;
  const given = Object.keys(ROLLOUT_OPTIONS).filter((o) => o !== 'strategy' && (args.strings[o] !== undefined || args.flags[o] === true));
  if (strategy === undefined) {
    if (given.length > 0) throw new AppError('usage', `--${given[0]} needs --strategy canary or --strategy bluegreen`);
    return undefined;
  }
  if (strategy !== 'canary' && strategy !== 'bluegreen') throw new AppError('usage', `unknown --strategy "${strategy}" (expected canary or bluegreen)`);
  if (args.flags.blue || args.strings.traffic !== undefined) throw new AppError('usage', `--strategy ${strategy} sets the traffic itself; do not combine it with --blue or --traffic`);
  if (strategy === 'canary' && args.strings.bake !== undefined) throw new AppError('usage', '--bake is for --strategy bluegreen; canary steps use --interval');
  if (strategy === 'bluegreen' && (args.strings.steps !== undefined || args.strings.interval !== undefined)) {
    throw new AppError('usage', '--steps and --interval are for --strategy canary; blue/green uses --bake');
  }
  let steps;
  try {
    steps = strategy === 'canary' ? parseSteps(args.strings.steps ?? '10,25,50,100') : [{ kind: 'weight' as const, percent: 100 }];
  } catch (e) {
    throw new AppError('usage', `--steps: ${(e as Error).message}`);
  }
  const intervalMs = strategy === 'canary' ? parseDuration(args.strings.interval ?? '30s', 'interval') : parseDuration(args.strings.bake ?? '60s', 'bake');
  return {
    server,
    version,
    strategy,
    steps,
    intervalMs,
    failureLimit: count(args, 'failure-limit', 1, 1, 100),
    thresholds: {
      ...DEFAULT_THRESHOLDS,
      maxErrorRate: count(args, 'max-error-rate', DEFAULT_THRESHOLDS.maxErrorRate * 100, 0, 100) / 100,
      minRequests: count(args, 'min-requests', DEFAULT_THRESHOLDS.minRequests, 1, 1_000_000),
      minToolCalls: count(args, 'min-tool-calls', DEFAULT_THRESHOLDS.minToolCalls, 1, 1_000_000),
    },
  };
}

/** One line per event: `2026-11-24 00:40:01Z  weight-set  step 1/4: 10% to 2.0.0, observing`. */
export function renderEvent(e: RolloutEvent): string {
  return `${formatTime(e.at)}  ${e.type.padEnd(11)} ${e.message}`;
}
