import { resolve } from 'node:path';
import { AppError } from '../../errors.js';
import { openStore } from '../../state/open-store.js';
import { PostgresStore, redactUrl } from '../../state/postgres-store.js';
import { copyInto, snapshotFiles, type StoreSnapshot } from '../../state/store-copy.js';
import type { Command } from '../command.js';

const isUrl = (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

export const storeCommand: Command = {
  name: 'store',
  summary: 'copy every server (registry, history, rollouts, deployment log) from a project or a database to a database',
  usage: 'copy --from <project dir|registry file|postgres://…> --to <postgres://…> [--json]',
  help: [
    'Copies in one transaction: when the target already holds a server of the same name, nothing is copied and the',
    'error names every such server. From a project directory, the servers a command run there sees (project, global',
    'and .mcprc scopes, scopes kept) with their deployment logs; from a registry file (.mcp-rollout/registry.json,',
    'the global registry.json or a .mcprc), its servers and the deployment log beside it. The source is left as it is.',
    'Example:',
    '  mcp-rollout store copy --from . --to postgres://mcp@db:5432/mcp',
  ].join('\n'),
  spec: { positionals: ['action'], options: { from: 'string', to: 'string', json: 'boolean' } },
  async run(args, ctx) {
    const action = args.positionals.action!;
    if (action !== 'copy') throw new AppError('usage', `unknown store action "${action}" (actions: copy)`);
    const from = args.strings.from;
    const to = args.strings.to;
    if (from === undefined || to === undefined) throw new AppError('usage', 'store copy needs --from <project dir, registry file or database URL> and --to <database URL>');
    // Named as the option the user gave, not as --store (openStore's wording).
    if (!isUrl(to)) throw new AppError('usage', `--to "${to}" is not a PostgreSQL URL (postgres://user@host:5432/database): store copy writes to a database`);
    const target = openStore({ url: to, cwd: ctx.io.cwd, env: ctx.io.env });
    if (!(target instanceof PostgresStore)) throw new AppError('usage', '--to must be a PostgreSQL URL');
    const source = isUrl(from) ? openStore({ url: from, cwd: ctx.io.cwd, env: ctx.io.env }) : undefined;
    try {
      let snapshot: StoreSnapshot;
      if (source instanceof PostgresStore) snapshot = { servers: await source.list(), log: await source.readLog(), ...(await source.existingKeyRing().then((k) => (k ? { keyRing: k } : {}))) };
      else snapshot = await snapshotFiles(resolve(ctx.io.cwd, from), ctx.io.env);
      const { names, keyRing } = await copyInto(target, snapshot);
      const shownFrom = source ? redactUrl(from) : resolve(ctx.io.cwd, from);
      const keys = {
        copied: '; its session key ring too, so ids its routers issued open on the database\'s routers',
        kept: '; the database keeps its own session key ring: sessions opened through the source\'s routers must initialize again on the database\'s',
        none: '',
      }[keyRing];
      if (args.flags.json === true) ctx.printJson({ ok: true, from: shownFrom, to: redactUrl(to), servers: names, logRecords: snapshot.log.length, keyRing });
      else ctx.print(names.length === 0 ? `nothing to copy: ${shownFrom} holds no server` : `copied ${names.join(', ')} (${snapshot.log.length} log records) from ${shownFrom} to ${redactUrl(to)}${keys}`);
    } finally {
      await Promise.all([target.close(), source?.close?.()]);
    }
  },
};
