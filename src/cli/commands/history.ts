import type { HistoryEntry } from '../../domain/types.js';
import type { Command } from '../command.js';
import { formatTime, paint, table } from '../format.js';

export const historyCommand: Command = {
  name: 'history',
  summary: "show a version's status changes, traffic changes and rollbacks, oldest first",
  usage: '<name> [version] [--json]',
  help: 'Examples:\n  mcp-history weather 1.1.0\n  mcp-history weather --json   # every version',
  spec: { positionals: ['name', 'version?'], options: { json: 'boolean' } },
  async run(args, ctx) {
    const { name, version } = args.positionals as { name: string; version?: string };
    const { entries } = await ctx.registry().history(name, version);
    if (args.flags.json) {
      ctx.printJson({ server: name, version: version ?? null, entries: entries.map((e) => ({ ...e, time: new Date(e.timestamp).toISOString() })) });
      return;
    }
    const title = version === undefined ? name : `${name}@${version}`;
    if (entries.length === 0) {
      ctx.print(`${title}: no history entries`);
      return;
    }
    const rows = entries.map((e) => [formatTime(e.timestamp), e.version, e.kind, describe(e)]);
    ctx.print(`${title}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}`, ...table([['TIME', 'VERSION', 'KIND', 'CHANGE'].map((h) => paint(ctx.style, 'dim', h)), ...rows]).map((l) => `  ${l}`));
  },
};

function describe(e: HistoryEntry): string {
  const why = e.reason === undefined || e.kind === 'rollback' ? '' : ` (${e.reason})`;
  switch (e.kind) {
    case 'registered':
      return `deployed as ${e.status} at ${e.trafficPercentage}%${why}`;
    case 'status':
      return `${e.from} -> ${e.to}${why}`;
    case 'traffic':
      return `${e.from}% -> ${e.to}%${why}`;
    case 'rollback':
      return `rolled back ${e.fromVersion} -> ${e.toVersion}: ${e.reason}`;
    case 'removed':
      return `version removed${why}`;
    case 'health':
      return `health ${e.from} -> ${e.to}${why}`;
    case 'validated':
      return e.ok ? 'validation passed' : `validation failed${why}`;
    case 'process':
      return `process ${e.event}: ${e.reason}`;
  }
}
