import type { Command } from '../command.js';
import { printChange } from './change-output.js';

export const promoteCommand: Command = {
  name: 'promote',
  summary: 'make a version blue at 100%; the old blue goes inactive and becomes the rollback target',
  usage: '<name> <version> [--reason <text>] [--json]',
  help: 'Example:\n  mcp-promote weather 1.1.0',
  spec: { positionals: ['name', 'version'], options: { reason: 'string', json: 'boolean' } },
  async run(args, ctx) {
    const { name, version } = args.positionals as { name: string; version: string };
    const result = await ctx.registry().promote(name, version, args.strings.reason);
    printChange(ctx, result, args.flags.json === true, version);
  },
};
