import { parsePercentage } from '../../domain/traffic-split.js';
import type { Command } from '../command.js';
import { printChange } from './change-output.js';

export const trafficCommand: Command = {
  name: 'traffic',
  summary: 'give a version exactly <percentage>% of new sessions; the others share the rest in proportion',
  usage: '<name> <version> <percentage> [--reason <text>] [--json]',
  help: 'Example:\n  mcp-traffic weather 1.1.0 20   # blue 80%, green 20%',
  spec: { positionals: ['name', 'version', 'percentage'], options: { reason: 'string', json: 'boolean' } },
  async run(args, ctx) {
    const { name, version, percentage } = args.positionals as { name: string; version: string; percentage: string };
    const result = await ctx.registry().setTraffic(name, version, parsePercentage(percentage), args.strings.reason);
    printChange(ctx, result, args.flags.json === true, version);
  },
};
