/**
 * Resident memory and CPU time of a process group, read from /proc (Linux). A managed server may be a wrapper
 * (npx, sh, uv run) whose real server is a child: the figures are summed over the whole group, which the
 * supervisor creates for it.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on every Linux architecture in use). */
const TICKS_PER_SECOND = 100;
const PAGE_BYTES = 4096;

export interface ProcStats {
  /** Resident memory, bytes. */
  rssBytes: number;
  /** User plus system CPU time, seconds. */
  cpuSeconds: number;
}

/**
 * Sums every live process whose process group is `pgid`. Undefined when /proc cannot be read (not Linux) or
 * no process of the group is left.
 */
export function groupStats(pgid: number): ProcStats | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return undefined;
  }
  let found = false;
  const sum: ProcStats = { rssBytes: 0, cpuSeconds: 0 };
  for (const pid of pids) {
    const s = statOf(pid);
    if (!s || s.pgrp !== pgid) continue;
    found = true;
    sum.rssBytes += s.rssPages * PAGE_BYTES;
    sum.cpuSeconds += (s.utime + s.stime) / TICKS_PER_SECOND;
  }
  return found ? { rssBytes: sum.rssBytes, cpuSeconds: Math.round(sum.cpuSeconds * 100) / 100 } : undefined;
}

/** Fields of /proc/<pid>/stat (see proc(5)); undefined for a process gone meanwhile or a zombie. */
function statOf(pid: string): { pgrp: number; utime: number; stime: number; rssPages: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  if (f[0] === 'Z') return undefined;
  // Fields after comm, 0-based from state: pgrp 2, utime 11, stime 12, rss 21.
  return { pgrp: Number(f[2]), utime: Number(f[11]), stime: Number(f[12]), rssPages: Number(f[21]) };
}
