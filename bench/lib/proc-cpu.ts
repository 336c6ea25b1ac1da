/**
 * CPU time from /proc (Linux): what a receiver costs per delivery, in its own process and in the
 * PostgreSQL server, whatever the machine's speed at the moment. Elsewhere every reading is null.
 */
import { readdirSync, readFileSync } from 'node:fs';

// USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK); Node cannot read it).
const MS_PER_TICK = 10;

/** utime + stime (+ the children's, with `children`) of one process from /proc/<pid>/stat, ms. */
function statCpuMs(stat: string, children: boolean): number {
  // Fields after the command name (which may hold spaces) start at state: field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]) + (children ? Number(fields[13]) + Number(fields[14]) : 0);
  return ticks * MS_PER_TICK;
}

/** CPU the process has used so far, ms; null when /proc cannot tell. */
export function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    return statCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8'), false);
  } catch {
    return null;
  }
}

/**
 * CPU every running PostgreSQL process has used so far (backends, WAL writer, checkpointer), ms.
 * The server is shared: other databases' work in the same interval counts too, so compare
 * receivers measured alternately, not one reading. Exited backends are not counted.
 */
export function postgresCpuMs(): number | null {
  let total = 0;
  let found = false;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (!stat.includes(' (postgres) ')) continue;
      total += statCpuMs(stat, false);
      found = true;
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return found ? total : null;
}
