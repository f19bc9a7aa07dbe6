/**
 * The file store's rollout leases (fleet-store.ts RolloutLeaseStore): `leases.json` beside a scope's registry file,
 * one entry per rollout (holder and expiry), changed under that file's own lock and replaced atomically.
 * Kept out of the registry document so a driver's renewal every few seconds changes no scope file: the routers'
 * LiveViews, which watch those files, are not woken by it. Expiry is the hosts' clock (epoch ms), the only one
 * files have: hosts sharing a registry on a network disk take a dead driver's rollout over late or early by the
 * difference of their clocks (a run-out lease taken early still cannot commit a tick for the old driver: the
 * registry's claim names the new one). The database store, with one clock for every host, is the one for a fleet.
 */
import { readFile } from 'node:fs/promises';
import type { RolloutDriver } from '../domain/types.js';
import { AppError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { withFileLock } from './file-lock.js';
import type { LeaseState } from './fleet-store.js';

interface LeaseEntry {
  pid: number;
  host: string;
  /** Epoch ms, by the clock of the host that wrote it. */
  expiresAt: number;
}

type Leases = Record<string, LeaseEntry>;

export class LeaseFile {
  /**
   * @param file the leases file (`leases.json`)
   * @param lockedFile the file whose lock guards it (the scope's registry file: one lock for both)
   */
  constructor(
    readonly file: string,
    private readonly lockedFile: string,
    private readonly lockTimeoutMs?: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** See RolloutLeaseStore.acquireLease. */
  acquire(server: string, holder: RolloutDriver, ttlMs: number): Promise<boolean> {
    return this.change((leases, now) => {
      const l = leases[server];
      if (l && l.expiresAt >= now && !holds(l, holder)) return false;
      leases[server] = { pid: holder.pid, host: holder.host, expiresAt: now + ttlMs };
      return true;
    });
  }

  /** See RolloutLeaseStore.renewLease. */
  renew(server: string, holder: RolloutDriver, ttlMs: number): Promise<boolean> {
    return this.change((leases, now) => {
      const l = leases[server];
      if (!l || !holds(l, holder) || l.expiresAt < now) return false;
      l.expiresAt = now + ttlMs;
      return true;
    });
  }

  /** See RolloutLeaseStore.releaseLease. */
  async release(server: string, holder: RolloutDriver): Promise<void> {
    await this.change((leases) => {
      const l = leases[server];
      if (!l || !holds(l, holder)) return false;
      delete leases[server];
      return true;
    });
  }

  /** See RolloutLeaseStore.lease. Read without the lock: the file is replaced whole. */
  async lease(server: string): Promise<LeaseState | undefined> {
    const l = (await this.read())[server];
    return l && { holder: { pid: l.pid, host: l.host }, remainingMs: l.expiresAt - this.now() };
  }

  /** Runs `fn` on the leases under the lock; writes them back when it returns true. Returns what `fn` returned. */
  private change(fn: (leases: Leases, now: number) => boolean): Promise<boolean> {
    return withFileLock(
      this.lockedFile,
      async () => {
        const leases = await this.read();
        if (!fn(leases, this.now())) return false;
        try {
          await writeFileAtomic(this.file, JSON.stringify(leases, null, 2) + '\n', 0o644);
        } catch (e) {
          throw new AppError('io', `cannot write rollout leases ${this.file}: ${(e as Error).message}`);
        }
        return true;
      },
      this.lockTimeoutMs === undefined ? {} : { timeoutMs: this.lockTimeoutMs },
    );
  }

  private async read(): Promise<Leases> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new AppError('io', `cannot read rollout leases ${this.file}: ${(e as Error).message}`);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new AppError('corrupt', `rollout leases ${this.file} are not valid JSON (${(e as Error).message}); remove the file (running rollouts then count as undriven)`);
    }
    const leases: Leases = {};
    const bad: string[] = [];
    if (typeof data !== 'object' || data === null || Array.isArray(data)) bad.push('(root): must be an object of leases by server');
    else {
      for (const [name, v] of Object.entries(data as Record<string, unknown>)) {
        const e = v as Partial<LeaseEntry> | null;
        if (e && typeof e === 'object' && Number.isInteger(e.pid) && typeof e.host === 'string' && Number.isFinite(e.expiresAt)) leases[name] = { pid: e.pid!, host: e.host, expiresAt: e.expiresAt! };
        else bad.push(`${name}: must be { pid, host, expiresAt }`);
      }
    }
    if (bad.length > 0) throw new AppError('corrupt', `rollout leases ${this.file} are invalid; remove the file (running rollouts then count as undriven):`, bad);
    return leases;
  }
}

const holds = (l: LeaseEntry, d: RolloutDriver): boolean => l.pid === d.pid && l.host === d.host;
