import { maskTransport } from '../../domain/deployment-log.js';
import { clientConfigFiles } from '../../migrate/client-configs.js';
import { migrate } from '../../migrate/migrate.js';
import type { Command } from '../command.js';
import { describeTarget } from '../format.js';
import { parseScope } from './deploy.js';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'import the MCP servers your clients already use (.mcprc, .mcp.json, Claude, Cursor, VS Code) as blue versions',
  usage: '[--version <semver>] [--scope <project|global|mcprc>] [--dry-run] [--json]',
  help: 'Imports each server not yet registered as version 1.0.0 (or --version), blue at 100%. Client files are only read.\nExample:\n  mcp-migrate --dry-run',
  spec: { positionals: [], options: { version: 'string', scope: 'string', 'dry-run': 'boolean', json: 'boolean' } },
  async run(args, ctx) {
    const scope = parseScope(args.strings.scope);
    const report = await migrate(ctx.registry(), clientConfigFiles({ cwd: ctx.io.cwd, env: ctx.io.env }), {
      ...(args.strings.version === undefined ? {} : { version: args.strings.version }),
      ...(scope === undefined ? {} : { scope }),
      dryRun: args.flags['dry-run'] === true,
    });
    if (args.flags.json) {
      ctx.printJson({ ...report, imported: report.imported.map((i) => ({ ...i, transport: maskTransport(i.transport) })) });
      return;
    }
    const verb = args.flags['dry-run'] ? 'would import' : 'imported';
    for (const i of report.imported) {
      ctx.print(`${verb} ${i.name}@${i.version} (${describeTarget({ ...i.transport, version: i.version, status: 'blue', trafficPercentage: 100, deploymentTimestamp: 0 })}) from ${i.client}: ${i.from}`);
    }
    for (const s of report.skipped) ctx.print(`skipped ${s.name} from ${s.client} (${s.from}): ${s.reason}`);
    for (const u of report.unreadable) ctx.io.stderr(`warning: could not read ${u.file}: ${u.error}`);
    if (report.read.length === 0) ctx.print('no client configuration files found');
    else ctx.print(`${report.imported.length} ${verb}, ${report.skipped.length} skipped, from ${report.read.length} file(s)`);
  },
};
