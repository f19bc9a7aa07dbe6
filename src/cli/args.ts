/**
 * Command-line parsing for the mcp-* commands.
 * - `--flag` (boolean), `--opt value` or `--opt=value` (string), `--opt a b c` (list: every word up to the
 *   next word that starts with `--`; `--opt=value` adds one value that may itself start with `--`).
 * - A bare `--` ends option parsing; every word after it lands in `rest` (deploy appends them to --args).
 * Unknown options, missing values and a wrong number of positionals are usage errors naming the word.
 */
import { AppError } from '../errors.js';

export type OptionKind = 'boolean' | 'string' | 'list';

export interface ArgSpec {
  /** Positional argument names, in order; a trailing `?` marks an optional one. */
  positionals: string[];
  options: Record<string, OptionKind>;
}

export interface ParsedArgs {
  positionals: Record<string, string | undefined>;
  flags: Record<string, boolean>;
  strings: Record<string, string | undefined>;
  lists: Record<string, string[] | undefined>;
  rest: string[];
}

/** Parses `argv` (the words after the command name) by `spec`; throws AppError `usage` on bad input. */
export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const out: ParsedArgs = { positionals: {}, flags: {}, strings: {}, lists: {}, rest: [] };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      out.rest = argv.slice(i + 1);
      break;
    }
    if (!word.startsWith('--') || word === '-') {
      positional.push(word);
      continue;
    }
    const eq = word.indexOf('=');
    const name = word.slice(2, eq === -1 ? undefined : eq);
    const inline = eq === -1 ? undefined : word.slice(eq + 1);
    const kind = spec.options[name];
    if (!kind) {
      const hint = spec.options.args === 'list' ? ' (words that start with -- go after a bare --, or as --args=--word)' : '';
      throw new AppError('usage', `unknown option --${name}${hint}`);
    }
    if (kind === 'boolean') {
      if (inline !== undefined) throw new AppError('usage', `option --${name} takes no value`);
      out.flags[name] = true;
    } else if (kind === 'string') {
      const value = inline ?? argv[i + 1];
      if (value === undefined || (inline === undefined && value.startsWith('--'))) {
        throw new AppError('usage', `option --${name} needs a value`);
      }
      if (inline === undefined) i++;
      if (out.strings[name] !== undefined) throw new AppError('usage', `option --${name} given twice`);
      out.strings[name] = value;
    } else {
      const list = (out.lists[name] ??= []);
      if (inline !== undefined) {
        list.push(inline);
        continue;
      }
      const start = list.length;
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) list.push(argv[++i]!);
      if (list.length === start && !(argv[i + 1] === '--')) {
        throw new AppError('usage', `option --${name} needs at least one value`);
      }
    }
  }
  const required = spec.positionals.filter((p) => !p.endsWith('?')).length;
  if (positional.length < required || positional.length > spec.positionals.length) {
    const names = spec.positionals.map((p) => (p.endsWith('?') ? `[${p.slice(0, -1)}]` : `<${p}>`)).join(' ');
    const got = positional.length === 0 ? 'none' : positional.map((p) => JSON.stringify(p)).join(' ');
    throw new AppError('usage', `expected ${names}, got ${got}`);
  }
  spec.positionals.forEach((p, i) => {
    out.positionals[p.replace(/\?$/, '')] = positional[i];
  });
  return out;
}

/** Parses `K=V` words into a map; throws a usage error naming the option and the bad word. */
export function parseKeyValues(words: readonly string[] | undefined, option: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const w of words ?? []) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new AppError('usage', `--${option} expects KEY=VALUE, got "${w}"`);
    map[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return map;
}
