/**
 * The request methods MCP defines, both eras (2024-11-05 .. 2025-11-25 and 2026-07-28), as named by the
 * official SDKs' schemas (`@modelcontextprotocol/sdk` 1.x and `@modelcontextprotocol/core` 2.x). Anything a
 * client sends beyond these is its own business: passed on unchanged, but never a name we keep state under
 * (a metric label per made-up method would let any client grow a router's memory and /metrics without bound).
 */

/** Client-to-server and server-to-client request methods of every live revision, removed ones included. */
export const MCP_REQUEST_METHODS: ReadonlySet<string> = new Set([
  // both eras
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'completion/complete',
  'tasks/get',
  'tasks/list',
  'tasks/result',
  'tasks/cancel',
  // legacy era (the handshake, session state, server-to-client requests; some removed in 2026-07-28)
  'initialize',
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
  'sampling/createMessage',
  'elicitation/create',
  'roots/list',
  // modern era
  'server/discover',
  'subscriptions/listen',
]);

/** True when `method` is one MCP defines (case-sensitive, as JSON-RPC methods are). */
export function isMcpRequestMethod(method: string): boolean {
  return MCP_REQUEST_METHODS.has(method);
}
