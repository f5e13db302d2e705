// CPU time of processes read from /proc/<pid>/stat (user + system, every thread), per process and summed over a network's processes
import { readFileSync } from 'node:fs';

/**
 * Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ). It is 100 on every Linux
 * architecture Node.js runs on (the kernel exports USER_HZ = 100 to user space).
 */
const USER_HZ = 100;

/**
 * CPU time (user + system) a process has used so far, in seconds, read from `/proc/<pid>/stat`
 * (fields 14 and 15, see proc(5)). Includes every thread (worker threads, libuv, GC).
 * @returns undefined when the process is gone or /proc is not available (not Linux).
 */
export function processCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after it.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / USER_HZ;
}

/**
 * Sums {@link processCpuSeconds} over `pids`, ignoring processes that cannot be read.
 * @returns CPU seconds, or undefined when none could be read.
 */
export function totalCpuSeconds(pids: Iterable<number>): number | undefined {
  let total: number | undefined;
  for (const pid of pids) {
    const s = processCpuSeconds(pid);
    if (s !== undefined) total = (total ?? 0) + s;
  }
  return total;
}
