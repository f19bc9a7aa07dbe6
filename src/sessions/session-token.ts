/**
 * The router's own `Mcp-Session-Id`: the session's state, encrypted (AES-256-GCM, a random 96-bit nonce) with
 * the current key of the shared key ring, so any router holding the ring can serve the session and a client
 * can neither read it (its version, its backend's session id, its router) nor forge or alter one.
 *
 * Token: `<key id>.<base64url(nonce | ciphertext | tag)>`: visible ASCII only (the spec's rule for session
 * ids), about 165 characters with a UUID backend session (agentgateway's 2.5 KB header was judged too large;
 * hence the one-letter fields). The key id is authenticated too (it is the GCM additional data).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { KeyRing, SealingKey } from '../state/key-ring.js';

export interface SessionClaims {
  server: string;
  version: string;
  /** The backend's own session id, if it issued one. */
  backendSession?: string;
  /** For a session whose backend is a process inside one router: that router's address (`http://host:port`). */
  owner?: string;
  /** When the session started, epoch ms: a rollback after it ends the session on every router. */
  startedAt: number;
}

/** The compact form inside the token. */
interface Packed {
  s: string;
  v: string;
  b?: string;
  o?: string;
  t: number;
}

const NONCE = 12;
const TAG = 16;

/** A new token for `claims`, sealed with the ring's current key (unique even for equal claims: the nonce). */
export function sealSession(ring: KeyRing, claims: SessionClaims): string {
  const packed: Packed = { s: claims.server, v: claims.version, t: claims.startedAt };
  if (claims.backendSession !== undefined) packed.b = claims.backendSession;
  if (claims.owner !== undefined) packed.o = claims.owner;
  const { id, key } = ring.current;
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(key, 'base64'), nonce);
  cipher.setAAD(Buffer.from(id));
  const body = Buffer.concat([cipher.update(JSON.stringify(packed), 'utf8'), cipher.final()]);
  return `${id}.${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url')}`;
}

/**
 * A digest of a session id, to be told to other routers where the id itself must not go (whoever holds the id
 * speaks as the session's client): the first 128 bits of its SHA-256, base64url (22 characters). Every router
 * computes the same one for the same id; ids are unique (one canonical spelling, see openSession), so are these.
 */
export function sessionDigest(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 22);
}

/** Whether `s` has a session digest's form (what others put on a store's channel is checked before use). */
export function isSessionDigest(s: string): boolean {
  return /^[A-Za-z0-9_-]{22}$/.test(s);
}

/** The key id a token names, or undefined when it is no token of this form. */
export function tokenKeyId(token: string): string | undefined {
  const dot = token.indexOf('.');
  return dot > 0 && dot <= 32 ? token.slice(0, dot) : undefined;
}

/** The ring's key with this id (current or previous), or undefined. */
export function ringKey(ring: KeyRing, id: string): SealingKey | undefined {
  return ring.current.id === id ? ring.current : ring.previous?.id === id ? ring.previous : undefined;
}

/**
 * The claims of a token sealed with a key of `ring`, or undefined for anything else: another ring's or a
 * dropped key's token, an altered or truncated one, garbage. Never throws.
 */
export function openSession(ring: KeyRing, token: string): SessionClaims | undefined {
  const id = tokenKeyId(token);
  const key = id === undefined ? undefined : ringKey(ring, id);
  if (!key) return undefined;
  const body = token.slice(id!.length + 1);
  const raw = Buffer.from(body, 'base64url');
  // Only the one canonical spelling: the decoder ignores a last character's spare bits (and skips characters
  // outside the alphabet), so another spelling of the same bytes would otherwise open as the same session.
  if (raw.length < NONCE + TAG + 2 || raw.toString('base64url') !== body) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(key.key, 'base64'), raw.subarray(0, NONCE));
    decipher.setAAD(Buffer.from(key.id));
    decipher.setAuthTag(raw.subarray(raw.length - TAG));
    const text = Buffer.concat([decipher.update(raw.subarray(NONCE, raw.length - TAG)), decipher.final()]).toString('utf8');
    const p = JSON.parse(text) as Partial<Packed>;
    if (typeof p.s !== 'string' || typeof p.v !== 'string' || typeof p.t !== 'number') return undefined;
    return {
      server: p.s,
      version: p.v,
      startedAt: p.t,
      ...(typeof p.b === 'string' ? { backendSession: p.b } : {}),
      ...(typeof p.o === 'string' ? { owner: p.o } : {}),
    };
  } catch {
    return undefined; // the tag did not verify: forged, altered, or sealed with another key of the same id
  }
}
