import type { Command } from '../command.js';
import { printChange } from './change-output.js';

export const removeVersionCommand: Command = {
  name: 'remove-version',
  summary: 'delete a green or inactive version (its share returns to the others; its history stays)',
  usage: '<name> <version> [--json]',
  help: 'Example:\n  mcp-remove-version weather 1.0.0',
  spec: { positionals: ['name', 'version'], options: { json: 'boolean' } },
  async run(args, ctx) {
    const { name, version } = args.positionals as { name: string; version: string };
    const result = await ctx.registry().removeVersion(name, version);
    printChange(ctx, result, args.flags.json === true, version);
  },
};
