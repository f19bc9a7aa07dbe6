/**
 * Which request headers a version's configuration (`--header`) may set for its HTTP backend. The router writes
 * some headers itself (Host from the URL, the body's framing) and some belong to one connection only (the
 * hop-by-hop headers of RFC 9110 section 7.6.1): a configured one would be sent twice, or contradict the request
 * the router actually sends, or (a `Transfer-Encoding` beside the router's `Content-Length`) frame the body in a
 * way the backend and the router disagree on.
 */

/** Why the router owns each such header, by lower-case name. */
const OWNED: Readonly<Record<string, string>> = {
  host: 'the router sets it',
  'content-length': 'the router sets it',
  'transfer-encoding': 'the router sets it',
  connection: 'it is hop-by-hop',
  'keep-alive': 'it is hop-by-hop',
  'proxy-connection': 'it is hop-by-hop',
  te: 'it is hop-by-hop',
  trailer: 'it is hop-by-hop',
  upgrade: 'it is hop-by-hop',
  'proxy-authenticate': 'it is hop-by-hop',
  'proxy-authorization': 'it is hop-by-hop',
};

/** True when the router writes this header, or it concerns one connection only (`name` in any case). */
export function isRouterOwnedHeader(name: string): boolean {
  return Object.hasOwn(OWNED, name.toLowerCase());
}

/**
 * Checks a version's configured backend headers. Errors name the header as configured, e.g.
 * `--header "Host" cannot be set: the router sets it`. Never throws.
 */
export function checkBackendHeaders(headers: Readonly<Record<string, string>>): { ok: true; value: Record<string, string> } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (Object.hasOwn(OWNED, lower)) errors.push(`--header "${name}" cannot be set: ${OWNED[lower]}`);
  }
  return errors.length === 0 ? { ok: true, value: { ...headers } } : { ok: false, errors };
}
