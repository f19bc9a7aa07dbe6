/**
 * Checks every HTTP request must pass before it reaches a server: Host (DNS rebinding), Origin (403 for a
 * foreign origin) and the optional bearer token. Pure functions over header values.
 */
import { timingSafeEqual } from 'node:crypto';

export interface GuardOptions {
  /** Host names the router answers to, besides the loopback names (localhost, 127.0.0.1, [::1]). */
  hosts: string[];
  /** Origins allowed besides loopback ones, for example `https://dashboard.example`. */
  origins: string[];
  /** When set, clients must send `Authorization: Bearer <token>`. */
  token?: string;
}

export interface Refusal {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function hostName(hostHeader: string): string {
  // "[::1]:7300" -> "[::1]"; "localhost:7300" -> "localhost"
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1);
  return hostHeader.split(':')[0] ?? '';
}

/** Undefined when the request may go on; otherwise the HTTP status and reason to refuse it with. */
export function checkRequest(headers: { host?: string | undefined; origin?: string | undefined; authorization?: string | undefined }, opts: GuardOptions): Refusal | undefined {
  const host = headers.host === undefined ? '' : hostName(headers.host.toLowerCase());
  if (!LOOPBACK.has(host) && !opts.hosts.includes(host)) {
    return { status: 403, message: `Host "${headers.host ?? ''}" is not served here (DNS rebinding protection)` };
  }
  const origin = headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let ok = opts.origins.includes(origin);
    if (!ok) {
      try {
        const u = new URL(origin);
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && (LOOPBACK.has(u.hostname) || LOOPBACK.has(`[${u.hostname}]`) || opts.hosts.includes(u.hostname));
      } catch {
        ok = false;
      }
    }
    if (!ok) return { status: 403, message: `Origin "${origin}" is not allowed` };
  } else if (origin === 'null') {
    return { status: 403, message: 'Origin "null" is not allowed' };
  }
  if (opts.token !== undefined) {
    const got = Buffer.from(headers.authorization ?? '');
    const want = Buffer.from(`Bearer ${opts.token}`);
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      return { status: 401, message: 'a valid bearer token is required', headers: { 'www-authenticate': 'Bearer realm="mcp-rollout"' } };
    }
  }
  return undefined;
}
