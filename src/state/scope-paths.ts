/**
 * Where each scope's state lives.
 * - project: `<root>/.mcp-rollout/registry.json`, where root is the nearest ancestor of the working directory
 *   holding `.mcp-rollout/`, else the nearest holding `.git`, else the working directory (like git finds its
 *   root). `MCP_ROLLOUT_PROJECT_DIR` overrides the root.
 * - global: `$XDG_CONFIG_HOME/mcp-rollout/registry.json` (default `~/.config`).
 * - mcprc: `<root>/.mcprc` (the nearest `.mcprc` up the tree if one exists), our data under the key
 *   `mcpRollout`, everything else in the file kept as it is.
 * Each scope's deployment log is a JSON-lines file beside its state file.
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Scope } from '../domain/types.js';

export interface ScopeLocation {
  scope: Scope;
  /** The state file. */
  file: string;
  /** The deployment log (JSON lines). */
  logFile: string;
  /** When set, the registry lives under this key of a JSON file owned by other tools too. */
  embeddedKey?: string;
}

export interface PathEnv {
  cwd: string;
  env: NodeJS.ProcessEnv;
}

function findUp(start: string, test: (dir: string) => boolean): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (test(dir)) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** The project root for `cwd` (see the module comment). */
export function projectRoot({ cwd, env }: PathEnv): string {
  if (env.MCP_ROLLOUT_PROJECT_DIR) return resolve(cwd, env.MCP_ROLLOUT_PROJECT_DIR);
  return findUp(cwd, (d) => isDir(join(d, '.mcp-rollout'))) ?? findUp(cwd, (d) => existsSync(join(d, '.git'))) ?? resolve(cwd);
}

/** The user's configuration directory: `$XDG_CONFIG_HOME`, default `~/.config` (HOME from `env` first). */
export function configHome(env: NodeJS.ProcessEnv): string {
  return env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
}

/** The project's state directory (`<root>/.mcp-rollout`): registry, logs, and running routers' entries. */
export function projectStateDir(p: PathEnv): string {
  return join(projectRoot(p), '.mcp-rollout');
}

/** The locations of all three scopes, in the order reads consult them. */
export function scopeLocations(p: PathEnv): ScopeLocation[] {
  const root = projectRoot(p);
  const projectDir = projectStateDir(p);
  const globalDir = join(configHome(p.env), 'mcp-rollout');
  const mcprcDir = p.env.MCP_ROLLOUT_PROJECT_DIR ? root : (findUp(p.cwd, (d) => existsSync(join(d, '.mcprc'))) ?? root);
  return [
    { scope: 'project', file: join(projectDir, 'registry.json'), logFile: join(projectDir, 'deployments.jsonl') },
    { scope: 'global', file: join(globalDir, 'registry.json'), logFile: join(globalDir, 'deployments.jsonl') },
    { scope: 'mcprc', file: join(mcprcDir, '.mcprc'), logFile: join(mcprcDir, '.mcprc-deployments.jsonl'), embeddedKey: 'mcpRollout' },
  ];
}

const SCOPE_FILE_NAMES: Record<Scope, string> = { project: 'project file', global: 'global file', mcprc: '.mcprc' };

/**
 * Where reads looked, for a message about a server not found: each scope's file and whether it exists, e.g.
 * `project file /p/.mcp-rollout/registry.json (not found), global file /h/.config/mcp-rollout/registry.json (not found),
 * .mcprc /p/.mcprc (not found)`. Reads the file system (existence only).
 */
export function describeScopeFiles(locations: readonly ScopeLocation[]): string {
  return locations.map((l) => `${SCOPE_FILE_NAMES[l.scope]} ${l.file} (${existsSync(l.file) ? 'exists' : 'not found'})`).join(', ');
}

/**
 * How to make a server visible from elsewhere, named after what the code supports: the project root by
 * environment, or the global scope (seen from every directory).
 */
export const POINTING_HINT =
  'run mcp-rollout inside the project, or set MCP_ROLLOUT_PROJECT_DIR to the project root (for a client, in its server entry\'s "env"), or deploy the server with --scope global';

