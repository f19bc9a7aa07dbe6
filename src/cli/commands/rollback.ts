import type { Command } from '../command.js';
import { printChange } from './change-output.js';

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: 'take a version out: a green goes inactive (blue back to 100%); the blue returns to the previous blue',
  usage: '<name> <version> [--reason <text>] [--json]',
  help: 'Examples:\n  mcp-rollback weather 1.1.0 --reason "error rate too high"\n  mcp-rollback weather 2.0.0   # 2.0.0 is blue: the previous blue returns',
  spec: { positionals: ['name', 'version'], options: { reason: 'string', json: 'boolean' } },
  async run(args, ctx) {
    const { name, version } = args.positionals as { name: string; version: string };
    const result = await ctx.registry().rollback(name, version, args.strings.reason);
    printChange(ctx, result, args.flags.json === true, version);
  },
};
