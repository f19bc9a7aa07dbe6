import type { Command } from '../command.js';
import { abortCommand } from './abort.js';
import { deployCommand } from './deploy.js';
import { historyCommand } from './history.js';
import { keysCommand } from './keys.js';
import { migrateCommand } from './migrate.js';
import { promoteCommand } from './promote.js';
import { proxyCommand } from './proxy.js';
import { removeVersionCommand } from './remove-version.js';
import { resumeCommand } from './resume.js';
import { serveCommand } from './serve.js';
import { rollbackCommand } from './rollback.js';
import { statusCommand } from './status.js';
import { storeCommand } from './store.js';
import { trafficCommand } from './traffic.js';
import { validateCommand } from './validate.js';

/** Every subcommand of `mcp-rollout`; each registry command is also its own `mcp-<name>` executable. */
export const COMMANDS: readonly Command[] = [
  deployCommand,
  promoteCommand,
  rollbackCommand,
  trafficCommand,
  statusCommand,
  historyCommand,
  migrateCommand,
  removeVersionCommand,
  validateCommand,
  abortCommand,
  resumeCommand,
  serveCommand,
  proxyCommand,
  keysCommand,
  storeCommand,
];
