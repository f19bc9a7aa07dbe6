/**
 * A throwaway project directory with its own global config home, so tests never touch the user's files.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempProject {
  dir: string;
  /** The environment a command in this project runs with (XDG_CONFIG_HOME and HOME inside `dir`). */
  env: NodeJS.ProcessEnv;
  /** The project scope's state file. */
  registryFile: string;
  logFile: string;
  cleanup(): Promise<void>;
}

export async function tempProject(prefix = 'mcp-rollout-test-'): Promise<TempProject> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: join(dir, 'xdg'), HOME: join(dir, 'home'), NO_COLOR: '1' };
  delete env.MCP_ROLLOUT_PROJECT_DIR;
  return {
    dir,
    env,
    registryFile: join(dir, '.mcp-rollout', 'registry.json'),
    logFile: join(dir, '.mcp-rollout', 'deployments.jsonl'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
