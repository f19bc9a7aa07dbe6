/**
 * `--store <url>` (or `--store=<url>`) is accepted by every command, so it is taken out of the arguments before
 * the command's own options are parsed. Arguments after a bare `--` belong to the command and are left alone.
 */
import { AppError } from '../errors.js';

/** The `--store` value (undefined when absent) and the other arguments in order. Throws `usage` for a missing value. */
export function takeStoreOption(args: readonly string[]): { url: string | undefined; rest: string[] } {
  let url: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      rest.push(...args.slice(i));
      break;
    }
    if (a === '--store' || a.startsWith('--store=')) {
      const value = a === '--store' ? args[++i] : a.slice('--store='.length);
      if (value === undefined || value === '' || (a === '--store' && value.startsWith('--'))) throw new AppError('usage', '--store needs a database URL (postgres://user@host:5432/database)');
      url = value;
      continue;
    }
    rest.push(a);
  }
  return { url, rest };
}
