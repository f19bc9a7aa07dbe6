import { AppError } from '../../errors.js';
import { deliverCommand } from '../../pipeline/rollout-command.js';
import type { Command } from '../command.js';
import { printChange } from './change-output.js';

export const promoteCommand: Command = {
  name: 'promote',
  summary: 'make a version blue at 100% (old blue: inactive, the rollback target); with only a name, advance its rollout',
  usage: '<name> [version] [--full] [--reason <text>] [--json]',
  help: [
    'Examples:',
    '  mcp-promote weather 1.1.0            # 1.1.0 becomes blue at once',
    '  mcp-rollout promote weather          # the running rollout goes past its pause or current step',
    '  mcp-rollout promote weather --full   # the running rollout skips its remaining steps',
  ].join('\n'),
  spec: { positionals: ['name', 'version?'], options: { full: 'boolean', reason: 'string', json: 'boolean' } },
  async run(args, ctx) {
    const { name, version } = args.positionals as { name: string; version?: string };
    const registry = ctx.registry();
    if (version === undefined) {
      const result = await deliverCommand(registry, name, { type: 'promote', full: args.flags.full === true });
      printChange(ctx, result, args.flags.json === true);
      return;
    }
    if (args.flags.full) throw new AppError('usage', '--full applies to a rollout: give only the server name');
    const result = await registry.promote(name, version, args.strings.reason);
    printChange(ctx, result, args.flags.json === true, version);
  },
};
