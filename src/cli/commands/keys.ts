import { AppError } from '../../errors.js';
import type { Command } from '../command.js';

export const keysCommand: Command = {
  name: 'keys',
  summary: 'rotate the key ring that seals session ids (shared by every router of the store)',
  usage: 'rotate [--json]',
  help: [
    'rotate makes a new current key and keeps the old one as previous: session ids sealed before still open on',
    'every router until the next rotation, which drops that key (its ids then get 404 and clients initialize',
    'again). Routers take the new key at the store\'s next change notice (a database) or within 5 s (files), and',
    'at once when a client brings an id sealed with it. The ring lives beside the registry (.mcp-rollout/keys.json,',
    'mode 0600) or in the database (table mcp_rollout_keys); the first router to start makes it.',
    'Example:',
    '  mcp-rollout keys rotate',
  ].join('\n'),
  spec: { positionals: ['action'], options: { json: 'boolean' } },
  async run(args, ctx) {
    const action = args.positionals.action!;
    if (action !== 'rotate') throw new AppError('usage', `unknown keys action "${action}" (actions: rotate)`);
    const store = ctx.registry().store;
    if (!store.rotateKeys || !store.keyRingLocation) throw new AppError('invalid', 'this store keeps no key ring');
    const ring = await store.rotateKeys();
    const where = store.keyRingLocation();
    if (args.flags.json === true) {
      ctx.printJson({ ok: true, location: where, current: ring.current.id, previous: ring.previous?.id ?? null });
      return;
    }
    ctx.print(
      `rotated the session key ring in ${where}: new current key ${ring.current.id}` +
        (ring.previous ? `; ids sealed with ${ring.previous.id} still open until the next rotation` : ''),
    );
  },
};
