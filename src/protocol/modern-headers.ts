/**
 * The request headers the Streamable HTTP transport requires of a client, derived from the message it carries.
 * Both hops that speak to an HTTP backend use this one function (the stdio proxy's HTTP upstream and the
 * router's forwarding), so what they send cannot drift apart: a backend that checks the headers against the
 * body (as the 2026-07-28 revision tells servers to) answers 400 -32020 to any disagreement.
 */

/** The `_meta` key that makes a request one of the stateless 2026-07-28 revision. */
export const PROTOCOL_VERSION_META = 'io.modelcontextprotocol/protocolVersion';

/**
 * Which params field `Mcp-Name` mirrors, per method (the v2 SDK's table: the spec's three, plus the task
 * methods, whose servers check `params.taskId` the same way).
 */
const NAME_SOURCE: Readonly<Record<string, string>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
};

const BASE64_PREFIX = '=?base64?';
const BASE64_SUFFIX = '?=';

/**
 * A header value for `value`: as is when it is plain visible ASCII (tab allowed) without surrounding white
 * space, otherwise `=?base64?<utf-8 in base64>?=` (also for the empty string and for a value that already looks
 * encoded, so decoding gives back exactly `value`).
 */
export function encodeHeaderValue(value: string): string {
  const plain =
    value.length > 0 &&
    value === value.trim() &&
    !(value.startsWith(BASE64_PREFIX) && value.endsWith(BASE64_SUFFIX)) &&
    /^[\t\x20-\x7e]*$/.test(value);
  return plain ? value : `${BASE64_PREFIX}${Buffer.from(value, 'utf8').toString('base64')}${BASE64_SUFFIX}`;
}

/**
 * The MCP headers one POST must carry for `message` (a parsed JSON-RPC message or batch), lower-case names:
 * - a message of the 2026-07-28 revision (its params' `_meta` names a protocol version): `mcp-protocol-version`
 *   from that `_meta`; for a request or notification, `mcp-method`; for a request whose method mirrors a
 *   params field (`tools/call`, `prompts/get`, `resources/read`, the task methods), `mcp-name` when that field
 *   is a string;
 * - any other message (the legacy era, batches, responses): `mcp-protocol-version` = `negotiated`, the version
 *   the initialize result settled, once there is one (none for the initialize request itself).
 * Never throws; a message that is not an object gets the legacy treatment.
 */
export function mcpRequestHeaders(message: unknown, negotiated?: string): Record<string, string> {
  const m = !Array.isArray(message) && typeof message === 'object' && message !== null ? (message as { method?: unknown; params?: unknown }) : undefined;
  const params = typeof m?.params === 'object' && m.params !== null ? (m.params as Record<string, unknown>) : undefined;
  const meta = typeof params?._meta === 'object' && params._meta !== null ? (params._meta as Record<string, unknown>) : undefined;
  const version = meta?.[PROTOCOL_VERSION_META];
  if (typeof version !== 'string') return negotiated === undefined ? {} : { 'mcp-protocol-version': negotiated };
  const out: Record<string, string> = { 'mcp-protocol-version': version };
  if (typeof m?.method !== 'string') return out;
  out['mcp-method'] = m.method;
  const field = Object.hasOwn(NAME_SOURCE, m.method) ? NAME_SOURCE[m.method] : undefined;
  const name = field === undefined ? undefined : params?.[field];
  if (typeof name === 'string') out['mcp-name'] = encodeHeaderValue(name);
  return out;
}
