import { hostname } from 'node:os';

/**
 * Whether a process id belongs to a running process on this machine (one we may not signal counts as alive).
 * Used wherever a file names its owner: locks, router entries, telemetry files, rollout drivers.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `host`, as a process of this tool recorded it, names this machine: its host name, or the name
 * MCP_ROLLOUT_HOST in `env` (default: this process's) gives it, as `serve` records itself under that name.
 */
export function isThisHost(host: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return host === hostname() || (env.MCP_ROLLOUT_HOST !== undefined && env.MCP_ROLLOUT_HOST !== '' && host === env.MCP_ROLLOUT_HOST);
}
