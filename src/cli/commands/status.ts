import type { Command } from '../command.js';
import { renderServer, serverJson } from '../render-server.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'show servers, their versions, statuses and traffic',
  usage: '[name] [--json] [--show-secrets]',
  help: 'Examples:\n  mcp-status\n  mcp-status weather --json',
  spec: { positionals: ['name?'], options: { json: 'boolean', 'show-secrets': 'boolean' } },
  async run(args, ctx) {
    const registry = ctx.registry();
    const name = args.positionals.name;
    const servers = name === undefined ? await registry.list() : [await registry.get(name)];
    if (args.flags.json) {
      ctx.printJson({ servers: servers.map((s) => serverJson(s, args.flags['show-secrets'] === true)) });
      return;
    }
    if (servers.length === 0) {
      ctx.print('no servers registered yet: start with mcp-deploy <name> <version> --type stdio --command <cmd>');
      return;
    }
    servers.forEach((s, i) => ctx.print(...(i > 0 ? [''] : []), ...renderServer(s, ctx.style)));
  },
};
