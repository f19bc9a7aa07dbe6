/**
 * The CLI edge: picks the command, parses its arguments, runs it, and turns every failure into one line on
 * stderr and an exit code. The only place that knows exit codes:
 *   0 success; 1 the operation failed (unknown server or version, conflict, unreadable state, lock timeout);
 *   2 the command line was wrong (unknown option, missing or invalid value).
 */
import { AppError, type ErrorCode } from '../errors.js';
import { Registry } from '../registry/registry.js';
import { openStore } from '../state/open-store.js';
import { parseArgs } from './args.js';
import { takeStoreOption } from './store-option.js';
import type { CliIo, Command, CommandContext } from './command.js';
import { COMMANDS } from './commands/index.js';

const EXIT: Record<ErrorCode, number> = { usage: 2, invalid: 2, 'not-found': 1, conflict: 1, corrupt: 1, locked: 1, io: 1 };

/** Runs `mcp-rollout <argv...>` and resolves to the exit code. Never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo, commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(mainHelp(commands) + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.stderr(`mcp-rollout: unknown command "${name}" (commands: ${commands.map((c) => c.name).join(', ')})\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(commandHelp(command) + '\n');
    return 0;
  }
  let registry: Registry | undefined;
  let storeUrl: string | undefined;
  const style = { color: io.isTTY && !io.env.NO_COLOR };
  const ctx: CommandContext = {
    io,
    style,
    registry: () => (registry ??= new Registry(openStore({ url: storeUrl, cwd: io.cwd, env: io.env }))),
    print: (...lines) => io.stdout(lines.join('\n') + '\n'),
    printJson: (value) => io.stdout(JSON.stringify(value, null, 2) + '\n'),
  };
  const json = rest.includes('--json');
  try {
    const taken = takeStoreOption(rest);
    storeUrl = taken.url;
    const args = parseArgs(taken.rest, command.spec);
    return (await command.run(args, ctx)) ?? 0;
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    if (json) ctx.printJson({ ok: false, error: { code: e.code, message: e.message, details: e.details } });
    const hint = e.code === 'usage' ? ` (see mcp-${command.name} --help)` : '';
    io.stderr(`mcp-${command.name}: ${e.render()}${hint}\n`);
    return EXIT[e.code];
  } finally {
    // A database store holds connections that would keep the process alive.
    await registry?.store.close?.();
  }
}

function commandHelp(c: Command): string {
  return [`usage: mcp-${c.name} ${c.usage}`, `   or: mcp-rollout ${c.name} ...`, '', c.summary, ...(c.help ? ['', c.help] : [])].join('\n');
}

function mainHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'mcp-rollout: blue/green and canary deployments for MCP servers',
    '',
    'usage: mcp-rollout <command> [arguments]   (or mcp-<command> [arguments])',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'mcp-rollout <command> --help shows the command\'s options and examples.',
  ].join('\n');
}
