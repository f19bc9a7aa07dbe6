import { maskTransport } from '../../domain/deployment-log.js';
import type { ChangeResult } from '../../registry/registry.js';
import type { CommandContext } from '../command.js';
import { renderServer, serverJson } from '../render-server.js';

/** Prints the outcome of a changing command: its messages and the server's new table, or one JSON document. */
export function printChange(ctx: CommandContext, result: ChangeResult, json: boolean, version?: string, extra: Record<string, unknown> = {}): void {
  const stored = { scope: result.scope, location: result.location, server: result.server };
  if (json) {
    ctx.printJson({
      ok: true,
      ...extra,
      ...(version === undefined ? {} : { version }),
      changed: result.changes.length > 0,
      messages: result.messages,
      changes: result.changes.map((c) => ('transport' in c ? { ...c, transport: maskTransport(c.transport) } : c)),
      server: serverJson(stored),
    });
    return;
  }
  ctx.print(...result.messages, '', ...renderServer(stored, ctx.style, undefined, { routersRead: false }));
}
