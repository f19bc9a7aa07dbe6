/**
 * Whether a Streamable HTTP backend's answer to a request that carried its `Mcp-Session-Id` says it no longer
 * knows that session (it restarted, or the session ended), so the session must be opened again there.
 *
 * The specification's answer is HTTP 404. Many real servers answer 400 instead: the official TypeScript SDK's
 * example servers, and the servers written from them (`@modelcontextprotocol/server-everything` among them),
 * keep their transports in a map and answer an id missing from it with
 * `400 {"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}}`.
 * A 400 counts only when its body is a JSON-RPC error whose message speaks of the session: a 400 about the
 * request itself (a bad argument, a malformed message) is the client's error and is passed on as it is.
 */

/**
 * @param status the backend's HTTP status
 * @param contentType its Content-Type header ('' when none)
 * @param body its body as text (the SDK examples' are about 100 bytes; undefined when not read)
 * @returns true when the backend refused the session id: 404 always; 400 with a JSON-RPC error about the session
 */
export function refusesSession(status: number, contentType: string, body: string | undefined): boolean {
  if (status === 404) return true;
  if (status !== 400 || body === undefined || !contentType.toLowerCase().includes('json')) return false;
  let m: unknown;
  try {
    m = JSON.parse(body);
  } catch {
    return false;
  }
  const error = (m as { error?: { message?: unknown } } | null)?.error;
  return typeof error?.message === 'string' && /\bsession\b/i.test(error.message);
}

