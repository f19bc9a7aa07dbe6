/**
 * Process checks for tests that must prove no child outlives its session.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * True while a process with this pid runs. A zombie (dead, not yet reaped: an orphaned grandchild waits for
 * whatever reaps orphans in a container) counts as gone.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ...": the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): kill(0) is all we know
  }
}

/** Resolves true once `pid` is gone, false if it is still there after `ms` (polled every 50 ms). */
export async function waitGone(pid: number, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 50) {
    if (!pidAlive(pid)) return true;
    await sleep(50);
  }
  return !pidAlive(pid);
}

/**
 * Pids of live processes whose command line holds `token` (Linux /proc). Tests give each server they deploy a
 * token of its own in its arguments, so they can find its processes without knowing who started them.
 */
export function pidsWith(token: string): number[] {
  const out: number[] = [];
  for (const n of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${n}/cmdline`, 'utf8').includes(token) && pidAlive(Number(n))) out.push(Number(n));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** `pid args` of each child process of this test process (the servers a test started and should have reaped). */
export function childProcesses(): string[] {
  try {
    return execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' }).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/\bps -o\b/.test(l));
  } catch {
    return []; // ps exits 1 when there are none
  }
}
