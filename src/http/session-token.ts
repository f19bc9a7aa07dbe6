/**
 * The router's own `Mcp-Session-Id`: sealed with a key only the router holds, so a client can neither forge
 * one nor use it to choose a version. It binds the server, the pinned version and the backend's session.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface SessionClaims {
  server: string;
  version: string;
  /** The backend's own session id, if it issued one. */
  backendSession?: string;
}

export class SessionSealer {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  /** A new token for `claims` (unique even for equal claims). Visible ASCII only, as the spec requires. */
  seal(claims: SessionClaims): string {
    const payload = Buffer.from(JSON.stringify({ ...claims, n: randomBytes(8).toString('hex') })).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /** The claims of a token this router sealed, or undefined for anything else (forged, altered, garbage). */
  open(token: string): SessionClaims | undefined {
    const dot = token.indexOf('.');
    if (dot <= 0) return undefined;
    const payload = token.slice(0, dot);
    const mac = Buffer.from(token.slice(dot + 1));
    const want = Buffer.from(this.mac(payload));
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return undefined;
    try {
      const c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as SessionClaims;
      return typeof c.server === 'string' && typeof c.version === 'string' ? c : undefined;
    } catch {
      return undefined;
    }
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
