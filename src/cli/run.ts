/**
 * The CLI edge: picks the command, parses its arguments, runs it, and turns every failure into one line on
 * stderr and an exit code. The only place that knows exit codes:
 *   0 success; 1 the operation failed (unknown server or version, conflict, unreadable state, lock timeout);
 *   2 the command line was wrong (unknown option, missing or invalid value).
 */
import { AppError, type ErrorCode } from '../errors.js';
import { Registry } from '../registry/registry.js';
import { JsonFileStore } from '../state/json-file-store.js';
import { parseArgs } from './args.js';
import type { CliIo, Command, CommandContext } from './command.js';
import { COMMANDS } from './commands/index.js';
import { commandDisplayName, hasOwnExecutable, packageInfo } from './package-info.js';

const EXIT: Record<ErrorCode, number> = { usage: 2, invalid: 2, 'not-found': 1, conflict: 1, corrupt: 1, locked: 1, io: 1 };

/**
 * Runs `mcp-rollout <argv...>` and resolves to the exit code. Never calls process.exit.
 * `--help`, `-h` and `--json` count only before a bare `--` (the words after it are the server's own: `-- --help`
 * is an argument for it, not a request for help). `--version` counts only as the sole word after the command,
 * because `mcp-migrate --version <v>` is an option of its own.
 */
export async function runCli(argv: readonly string[], io: CliIo, commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(mainHelp(commands) + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (name === '--version' || (command && rest.length === 1 && rest[0] === '--version')) {
    io.stdout(packageInfo().version + '\n');
    return 0;
  }
  if (!command) {
    io.stderr(`mcp-rollout: unknown command "${name}" (commands: ${commands.map((c) => c.name).join(', ')})\n`);
    return 2;
  }
  const end = rest.indexOf('--');
  const options = end === -1 ? rest : rest.slice(0, end);
  if (options.includes('--help') || options.includes('-h')) {
    io.stdout(commandHelp(command) + '\n');
    return 0;
  }
  let registry: Registry | undefined;
  const style = { color: io.isTTY && !io.env.NO_COLOR };
  const ctx: CommandContext = {
    io,
    style,
    registry: () => (registry ??= new Registry(JsonFileStore.forEnvironment({ cwd: io.cwd, env: io.env }))),
    print: (...lines) => io.stdout(lines.join('\n') + '\n'),
    printJson: (value) => io.stdout(JSON.stringify(value, null, 2) + '\n'),
  };
  const json = options.includes('--json');
  try {
    const args = parseArgs(rest, command.spec);
    return (await command.run(args, ctx)) ?? 0;
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    if (json) ctx.printJson({ ok: false, error: { code: e.code, message: e.message, details: e.details } });
    const shown = commandDisplayName(command.name);
    const hint = e.code === 'usage' ? ` (see ${shown} --help)` : '';
    io.stderr(`${shown}: ${e.render()}${hint}\n`);
    return EXIT[e.code];
  }
}

function commandHelp(c: Command): string {
  const usage = [`usage: ${commandDisplayName(c.name)} ${c.usage}`, ...(hasOwnExecutable(c.name) ? [`   or: mcp-rollout ${c.name} ...`] : [])];
  return [...usage, '', c.summary, ...(c.help ? ['', c.help] : [])].join('\n');
}

function mainHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'mcp-rollout: blue/green and canary deployments for MCP servers',
    '',
    'usage: mcp-rollout <command> [arguments]',
    `   or: ${commands.filter((c) => hasOwnExecutable(c.name)).map((c) => commandDisplayName(c.name)).join(', ')} [arguments]`,
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'mcp-rollout <command> --help shows the command\'s options and examples; mcp-rollout --version, the version.',
  ].join('\n');
}
