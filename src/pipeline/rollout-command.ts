/**
 * A person's command (promote, abort, resume) for a rollout, from any process. A rollout whose driver is
 * alive gets the command for its next tick; one nobody drives (a detached start, a foreground runner stopped
 * with Ctrl-C) has it carried out by the caller at once, so a command is never left waiting for a runner
 * that is gone.
 */
import type { Command } from '../domain/rollout-controller.js';
import type { ChangeResult, Registry } from '../registry/registry.js';
import { driverLive } from './rollout-lease.js';

/**
 * Delivers `command` to the rollout in progress of `name`: left to its driver while that process is alive
 * (its process, or its lease on a database; its messages name it), else carried out here in one locked write (see `Registry.commandRollout`). Throws
 * AppError `not-found` for an unknown server, `conflict` when it has no rollout in progress.
 */
export async function deliverCommand(registry: Registry, name: string, command: Command): Promise<ChangeResult> {
  const driver = (await registry.get(name)).server.rollout?.driver;
  // Judged here, outside the lock (a pid or lease check is I/O); the write acts only if the driver is still this one.
  return registry.commandRollout(name, command, (await driverLive(registry, name, driver)) ? undefined : { driver });
}
