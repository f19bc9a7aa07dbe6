/**
 * The registry service: every command's logic, over a Store and an injected clock. The CLI (and later an
 * admin API) only parses input and renders results. Emits one typed event per real change, after the change
 * is stored.
 */
import { EventEmitter } from 'node:events';
import { toLogRecord } from '../domain/deployment-log.js';
import * as ops from '../domain/registry-ops.js';
import type { Change, DeployRequest, OpResult, RolloutTick, TickGuard, TickResult } from '../domain/registry-ops.js';
import type { Contract } from '../domain/contract-diff.js';
import type { Command as RolloutCommand, RolloutEvent } from '../domain/rollout-controller.js';
import type { Health, HistoryEntry, ProcessEvent, RolloutDriver, RolloutRecord, Scope, ServerState, ValidationSummary } from '../domain/types.js';
import { findVersion } from '../domain/types.js';
import { AppError } from '../errors.js';
import type { Store, StoredServer } from '../state/store.js';

type EventOf<K extends Change['type']> = Extract<Change, { type: K }>;
export type RegistryEvents = { [K in Change['type']]: [EventOf<K>] };

export interface ChangeResult {
  server: ServerState;
  scope: Scope;
  location: string;
  changes: Change[];
  messages: string[];
}

export class Registry extends EventEmitter<RegistryEvents> {
  /**
   * @param store where state lives
   * @param now the clock, epoch ms (injected so tests and the rollout controller control time); by default
   *   the store's (`Store.now`, the database's clock for a store shared between hosts), else this host's
   */
  constructor(
    readonly store: Store,
    readonly now: () => number = () => store.now?.() ?? Date.now(),
  ) {
    super();
  }

  /** All servers, sorted by name. */
  list(): Promise<StoredServer[]> {
    return this.store.list();
  }

  /** One server; throws AppError `not-found` naming the known servers. */
  async get(name: string): Promise<StoredServer> {
    const all = await this.store.list();
    const found = all.find((s) => s.server.name === name);
    if (!found) throw unknownServer(name, all, this.store.whereLooked?.());
    return found;
  }

  /** Deploys a version (see `ops.deploy`); a new server is written to `scope` (default project). */
  deploy(name: string, req: DeployRequest, scope?: Scope): Promise<ChangeResult> {
    return this.apply(name, scope, (cur, now) => ops.deploy(cur, name, req, now), true);
  }

  promote(name: string, version: string, reason?: string): Promise<ChangeResult> {
    return this.apply(name, undefined, (cur, now) => ops.promote(cur!, version, now, reason));
  }

  rollback(name: string, version: string, reason?: string): Promise<ChangeResult> {
    return this.apply(name, undefined, (cur, now) => ops.rollback(cur!, version, now, reason));
  }

  setTraffic(name: string, version: string, percentage: number, reason?: string): Promise<ChangeResult> {
    return this.apply(name, undefined, (cur, now) => ops.setTraffic(cur!, version, percentage, now, reason));
  }

  removeVersion(name: string, version: string): Promise<ChangeResult> {
    return this.apply(name, undefined, (cur, now) => ops.removeVersion(cur!, version, now));
  }

  setHealth(name: string, version: string, health: Health, reason?: string): Promise<ChangeResult> {
    return this.apply(name, undefined, (cur, now) => ops.setHealth(cur!, version, health, now, reason));
  }

  /** Stores a validation outcome and the contract seen with a version. */
  recordValidation(name: string, version: string, summary: ValidationSummary, contract?: Contract): Promise<ChangeResult> {
    return this.apply(name, undefined, (cur, now) => ops.recordValidation(cur!, version, summary, contract, now));
  }

  /** Saves a rollout's status and new events (see `ops.saveRollout`). */
  saveRollout(name: string, next: Omit<RolloutRecord, 'events' | 'command'>, events: RolloutEvent[], consumed?: RolloutCommand): Promise<ChangeResult> {
    return this.apply(name, undefined, (cur) => ops.saveRollout(cur!, next, events, consumed));
  }

  /**
   * Makes `claimant` the driver of the rollout of `name`, atomically: only while its stored driver is still
   * `seen` (the driver the caller found dead, undefined for none) or already `claimant` (see `ops.claimRollout`).
   * Throws AppError `conflict` naming the live driver when another process got there first.
   */
  claimRollout(name: string, claimant: RolloutDriver, seen: RolloutDriver | undefined): Promise<ChangeResult> {
    return this.apply(name, undefined, (cur) => ops.claimRollout(cur!, claimant, seen));
  }

  /**
   * Applies a rollout tick's actions and saves its status in one locked write, under `guard` (see
   * `ops.commitRolloutTick`). With `{ driving }`, a rollout taken over by another process is left untouched
   * and the result's `superseded` says who drives it; with `{ replacing }`, throws `conflict` when another
   * rollout started meanwhile.
   */
  async commitRolloutTick(name: string, tick: RolloutTick, guard: TickGuard): Promise<ChangeResult & Pick<TickResult, 'events' | 'superseded'>> {
    const { result, value } = await this.write(name, undefined, (cur, now) => ops.commitRolloutTick(cur!, tick, guard, now));
    return { ...result, events: value.events, ...(value.superseded ? { superseded: value.superseded } : {}) };
  }

  /**
   * Hands a person's command (promote, abort, resume) to the rollout in progress of `name`; with `gone` (the
   * driver the caller judged dead, or undefined for none), carries it out at once while that driver is still
   * the stored one (see `ops.commandRollout`). Throws `conflict` when there is no rollout in progress.
   */
  commandRollout(name: string, command: RolloutCommand, gone?: { driver: RolloutDriver | undefined }): Promise<ChangeResult> {
    return this.apply(name, undefined, (cur, now) => ops.commandRollout(cur!, command, now, gone));
  }

  /**
   * The history entries about `version` of `name` (all entries when `version` is omitted), oldest first.
   * A removed version's history stays readable. Throws `not-found` when the version never existed.
   */
  /** Records a managed version's process event in its history (see `ops.recordProcess`). */
  recordProcess(name: string, version: string, event: ProcessEvent, reason: string): Promise<ChangeResult> {
    return this.apply(name, undefined, (cur, now) => ops.recordProcess(cur!, version, event, reason, now));
  }

  async history(name: string, version?: string): Promise<{ stored: StoredServer; entries: HistoryEntry[] }> {
    const stored = await this.get(name);
    const { server } = stored;
    if (version === undefined) return { stored, entries: server.history };
    const entries = server.history.filter(
      (e) => e.version === version || (e.kind === 'rollback' && (e.fromVersion === version || e.toVersion === version)),
    );
    if (entries.length === 0 && !findVersion(server, version) && !server.mcpVersionHistory.versions.includes(version)) {
      throw new AppError('not-found', `server "${name}" has no version "${version}"`);
    }
    return { stored, entries };
  }

  private async apply(
    name: string,
    scope: Scope | undefined,
    op: (current: ServerState | undefined, now: number) => OpResult,
    mayCreate = false,
  ): Promise<ChangeResult> {
    return (await this.write(name, scope, op, mayCreate)).result;
  }

  /** Runs `op` inside the store's locked read-modify-write; returns the change and the op's own result. */
  private async write<R extends OpResult>(
    name: string,
    scope: Scope | undefined,
    op: (current: ServerState | undefined, now: number) => R,
    mayCreate = false,
  ): Promise<{ result: ChangeResult; value: R }> {
    const missing = new AppError('not-found', `unknown server "${name}"`);
    let outcome;
    try {
      outcome = await this.store.update(name, scope, (current) => {
        if (!current && !mayCreate) throw missing;
        // Read under the lock, once the store was reached: a database store's clock is known by then.
        const now = this.now();
        const result = op(current, now);
        return { server: result.server, log: result.changes.map((c) => toLogRecord(c, now)), value: result };
      });
    } catch (e) {
      // Only on this error path is it worth reading the registry again, to name the servers that do exist.
      if (e === missing) throw unknownServer(name, await this.store.list(), this.store.whereLooked?.());
      throw e;
    }
    const { value, scope: where, location } = outcome;
    for (const change of value.changes) this.emit(change.type, change as never);
    return { result: { server: value.server, scope: where, location, changes: value.changes, messages: value.messages }, value };
  }
}

/** `where`: the store's account of where it looked (so a command run in the wrong directory says so). */
function unknownServer(name: string, all: readonly { server: { name: string } }[], where?: string): AppError {
  const known = all.map((s) => s.server.name);
  const hint = known.length === 0 ? 'no servers are registered yet' : `registered: ${known.join(', ')}`;
  return new AppError('not-found', `unknown server "${name}" (${hint})${where === undefined ? '' : `; looked in ${where}`}`);
}
