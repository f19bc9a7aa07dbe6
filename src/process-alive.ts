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
