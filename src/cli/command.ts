/**
 * What every command module provides, and what it is given.
 */
import type { Readable, Writable } from 'node:stream';
import type { Registry } from '../registry/registry.js';
import type { ArgSpec, ParsedArgs } from './args.js';
import type { Style } from './format.js';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Colour and terminal niceties only when true. */
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted when the user interrupts (Ctrl-C): long-running commands stop cleanly. */
  signal?: AbortSignal;
  /** The raw standard streams, for commands that speak a protocol on them (the stdio proxy). */
  streams?: { stdin: Readable; stdout: Writable };
}

export interface CommandContext {
  io: CliIo;
  style: Style;
  /** The registry over the standard scope files (created on first use). */
  registry(): Registry;
  /** Prints one line (or several) to stdout. */
  print(...lines: string[]): void;
  /** Prints one JSON document to stdout. */
  printJson(value: unknown): void;
}

export interface Command {
  name: string;
  /** One line for the help listing. */
  summary: string;
  /** The syntax line, after the command name. */
  usage: string;
  /** Longer help: examples and notes. */
  help?: string;
  spec: ArgSpec;
  /** Runs the command; returns the exit code (default 0). Throws AppError for failures. */
  run(args: ParsedArgs, ctx: CommandContext): Promise<number | void>;
}
