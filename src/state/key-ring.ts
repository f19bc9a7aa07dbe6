/**
 * The key ring that seals session ids: a current key (sealing and opening) and the previous one (opening
 * only), so ids sealed before a rotation still open during the overlap. Every router of one store shares it
 * through that store (a file next to the registry, or a database table): routers need no configuration of
 * their own, and any of them opens any other's ids. Stores implement `KeyRingStore` (see store.ts).
 */
import { randomBytes } from 'node:crypto';

export interface SealingKey {
  /** Short, random, URL-safe: written into each token so the right key opens it. */
  id: string;
  /** 32 random bytes (AES-256), base64. */
  key: string;
  /** When it was made (ISO 8601), for people reading the store. */
  createdAt: string;
}

export interface KeyRing {
  current: SealingKey;
  previous?: SealingKey;
}

/** What a store that shares a key ring provides. */
export interface KeyRingStore {
  /** The ring, made (and stored) on first use when there is none. Throws AppError `io`/`corrupt` naming where it lives. */
  keyRing(): Promise<KeyRing>;
  /**
   * A new current key; the current one becomes previous (ids sealed with it still open), the previous one is
   * dropped (ids sealed with it no longer open). Makes a ring first when there is none. Returns the new ring.
   */
  rotateKeys(): Promise<KeyRing>;
  /** Where the ring lives, for messages (a file path, a database table). */
  keyRingLocation(): string;
}

/** A fresh key; `now` names its creation time. */
export function newSealingKey(now: Date = new Date()): SealingKey {
  return { id: randomBytes(6).toString('base64url'), key: randomBytes(32).toString('base64'), createdAt: now.toISOString() };
}

/** A ring of one fresh key. */
export function newKeyRing(now?: Date): KeyRing {
  return { current: newSealingKey(now) };
}

/** `ring` rotated: a fresh current key, the old current as previous, the old previous gone. */
export function rotatedKeyRing(ring: KeyRing | undefined, now?: Date): KeyRing {
  if (!ring) return newKeyRing(now);
  return { current: newSealingKey(now), previous: ring.current };
}

/** The ring in `data` (a parsed keys file or table row), or the problems, one `path: message` each. */
export function parseKeyRing(data: unknown): { ok: true; value: KeyRing } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const key = (v: unknown, path: string): SealingKey | undefined => {
    const k = v as Partial<SealingKey> | null;
    if (typeof k !== 'object' || k === null) return void errors.push(`${path}: expected an object`);
    if (typeof k.id !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(k.id)) errors.push(`${path}.id: expected up to 32 letters, digits, - or _`);
    if (typeof k.key !== 'string' || Buffer.from(k.key, 'base64').length !== 32) errors.push(`${path}.key: expected 32 bytes in base64`);
    return { id: k.id!, key: k.key!, createdAt: typeof k.createdAt === 'string' ? k.createdAt : '' };
  };
  const d = data as { current?: unknown; previous?: unknown } | null;
  if (typeof d !== 'object' || d === null) return { ok: false, errors: ['expected an object with "current" and optionally "previous"'] };
  const current = key(d.current, 'current');
  const previous = d.previous === undefined ? undefined : key(d.previous, 'previous');
  if (errors.length > 0 || !current) return { ok: false, errors };
  return { ok: true, value: previous ? { current, previous } : { current } };
}
