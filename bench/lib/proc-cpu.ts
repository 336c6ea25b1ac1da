/**
 * CPU time from /proc (Linux): what a receiver costs per delivery, in its own process and in the
 * PostgreSQL server, whatever the machine's speed at the moment. Elsewhere every reading is null.
 */
import { readdirSync, readFileSync } from 'node:fs';

// USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK); Node cannot read it).
const MS_PER_TICK = 10;

/** utime + stime of one process from /proc/<pid>/stat, ms. */
function statCpuMs(stat: string): number {
  // Fields after the command name (which may hold spaces) start at state: field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
}

/** CPU the process has used so far, ms; null when /proc cannot tell. */
export function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    return statCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * CPU each running PostgreSQL process (backends, WAL writer, checkpointer) has used so far, ms by
 * pid; null when /proc cannot tell. The server is shared: other databases' work counts too, so
 * compare receivers measured alternately, not one reading.
 */
export function postgresCpuByPid(): Map<number, number> | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  const cpu = new Map<number, number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.includes(' (postgres) ')) cpu.set(Number(entry), statCpuMs(stat));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return cpu.size > 0 ? cpu : null;
}

/**
 * PostgreSQL CPU used since `before`, ms: each process's growth, a process started since counted
 * whole. A process that ended meanwhile (a pooled connection closed when idle) is left out, not
 * subtracted: summing the live processes' totals instead would go backwards when one ends.
 */
export function postgresCpuSince(before: Map<number, number>): number | null {
  const now = postgresCpuByPid();
  if (now === null) return null;
  let total = 0;
  for (const [pid, ms] of now) total += ms - (before.get(pid) ?? 0);
  return total;
}
