import { AppError } from '../../errors.js';
import { deliverCommand } from '../../pipeline/rollout-command.js';
import { resumeRollout } from '../../pipeline/rollout-runner.js';
import type { Command } from '../command.js';
import { rolloutExit, runnerDeps } from '../runner-deps.js';
import { printChange } from './change-output.js';

export const resumeCommand: Command = {
  name: 'resume',
  summary: 'continue a paused rollout; with --wait, drive it from this process (after its runner stopped)',
  usage: '<name> [--wait] [--json]',
  help: 'Examples:\n  mcp-rollout resume weather          # a paused rollout observes its step again\n  mcp-rollout resume weather --wait   # drive a rollout whose runner was stopped, to its end',
  spec: { positionals: ['name'], options: { wait: 'boolean', json: 'boolean' } },
  async run(args, ctx) {
    const name = args.positionals.name!;
    const registry = ctx.registry();
    const { server } = await registry.get(name);
    if (!server.rollout) throw new AppError('conflict', `server "${name}" has no rollout to resume`);
    if (server.rollout.status.phase === 'Paused') {
      const result = await deliverCommand(registry, name, { type: 'resume' });
      if (!args.flags.wait) {
        printChange(ctx, result, args.flags.json === true);
        return;
      }
      ctx.print(...result.messages);
    }
    if (!args.flags.wait) {
      ctx.print(`the rollout of "${name}" is not paused (${server.rollout.status.phase}: ${server.rollout.status.message}); --wait drives it from here`);
      return;
    }
    const status = await resumeRollout(runnerDeps(ctx), name);
    ctx.print(`${status.phase}: ${status.message}`);
    return rolloutExit(status.phase);
  },
};
