/**
 * A router's copy of its store's key ring, kept current without a request ever waiting for the store, except
 * one: a token naming a key id the copy does not hold (sealed by another router after a rotation this one has
 * not seen yet) waits for one re-read before it is judged. Re-read also on every pushed change of the store
 * (a rotation notifies like a registry write) and on a slow poll, so a router whose store pushes nothing (the
 * file store) seals with the new key within `pollMs` of a rotation. Re-reads are coalesced and spaced by at
 * least `minGapMs`, so tokens with made-up key ids cannot make the router hammer the store.
 * A store without a key ring (a custom one) gets a ring made in memory: its ids die with the router, as before.
 */
import type { KeyRing } from '../state/key-ring.js';
import { newKeyRing } from '../state/key-ring.js';
import type { Store } from '../state/store.js';
import { openSession, ringKey, sealSession, tokenKeyId, type SessionClaims } from './session-token.js';

export class SessionKeys {
  private ring: KeyRing = newKeyRing();
  private reading: Promise<void> | undefined;
  private lastRead = 0;
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  /** Why the last re-read failed (the ring held is kept), cleared by the next good one. */
  lastError: string | undefined;

  /**
   * @param pollMs how often the ring is re-read regardless (ms, default 5000)
   * @param minGapMs least time between two re-reads caused by unknown key ids (ms, default 100)
   */
  constructor(
    private readonly store: Store,
    private readonly pollMs = 5000,
    private readonly minGapMs = 100,
  ) {}

  /** Reads (or makes) the ring; throws the store's error when it cannot. Then follows the store's changes. */
  async start(): Promise<void> {
    if (!this.store.keyRing) return;
    this.ring = await this.store.keyRing();
    this.lastRead = Date.now();
    this.unwatch = this.store.watch?.(() => void this.reread());
    this.timer = setInterval(() => void this.reread(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.unwatch?.();
    this.unwatch = undefined;
  }

  /** A token for `claims`, sealed with the current key. */
  seal(claims: SessionClaims): string {
    return sealSession(this.ring, claims);
  }

  /** The claims of `token`, or undefined (see openSession); an unknown key id waits for one re-read of the ring. */
  async open(token: string): Promise<SessionClaims | undefined> {
    const id = tokenKeyId(token);
    if (id === undefined) return undefined;
    if (!ringKey(this.ring, id) && this.store.keyRing) {
      await new Promise((r) => setTimeout(r, Math.max(0, this.lastRead + this.minGapMs - Date.now())));
      if (!ringKey(this.ring, id)) await this.reread();
    }
    return openSession(this.ring, token);
  }

  /** One re-read at a time; callers during one share it. */
  private reread(): Promise<void> {
    this.reading ??= (async () => {
      try {
        this.ring = await this.store.keyRing!();
        this.lastError = undefined;
      } catch (e) {
        this.lastError = (e as Error).message;
      } finally {
        this.lastRead = Date.now();
        this.reading = undefined;
      }
    })();
    return this.reading;
  }
}
