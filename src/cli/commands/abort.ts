import { deliverCommand } from '../../pipeline/rollout-command.js';
import type { Command } from '../command.js';
import { printChange } from './change-output.js';

export const abortCommand: Command = {
  name: 'abort',
  summary: 'stop the running rollout of a server and roll its candidate back',
  usage: '<name> [--reason <text>] [--json]',
  help: 'Example:\n  mcp-rollout abort weather --reason "latency looks wrong"',
  spec: { positionals: ['name'], options: { reason: 'string', json: 'boolean' } },
  async run(args, ctx) {
    const name = args.positionals.name!;
    const result = await deliverCommand(ctx.registry(), name, { type: 'abort', reason: args.strings.reason ?? 'aborted by request' });
    printChange(ctx, result, args.flags.json === true);
  },
};
