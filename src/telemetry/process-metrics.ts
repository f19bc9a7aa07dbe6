/**
 * The router process's own figures in Prometheus text format, under the names exporters conventionally use:
 * resident memory, CPU time, start time, heap in use, open file descriptors (where /proc tells).
 */
import { readdirSync } from 'node:fs';

const started = Date.now() / 1000 - process.uptime();

export function processMetrics(): string[] {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  const lines = [
    '# HELP process_resident_memory_bytes Resident memory size in bytes.',
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${mem.rss}`,
    '# HELP process_cpu_seconds_total User and system CPU time spent, in seconds.',
    '# TYPE process_cpu_seconds_total counter',
    `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
    '# HELP process_start_time_seconds Start time of the process since the Unix epoch, in seconds.',
    '# TYPE process_start_time_seconds gauge',
    `process_start_time_seconds ${Math.round(started)}`,
    '# HELP nodejs_heap_used_bytes V8 heap in use, in bytes.',
    '# TYPE nodejs_heap_used_bytes gauge',
    `nodejs_heap_used_bytes ${mem.heapUsed}`,
  ];
  try {
    const fds = readdirSync('/proc/self/fd').length;
    lines.push('# HELP process_open_fds Open file descriptors.', '# TYPE process_open_fds gauge', `process_open_fds ${fds}`);
  } catch {
    // no /proc here: the figure is left out
  }
  return lines;
}
