import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/*
 * CPU time and memory of other processes, read from /proc (Linux): what a benchmark charges
 * to the relay, to PostgreSQL and to a peer server, apart from its own load generators.
 */

const TICKS_PER_SECOND = 100;

interface ProcStat {
  readonly ppid: number;
  /** User + system CPU seconds. */
  readonly cpuSecs: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields from 3 on: state(3) ppid(4) ... utime(14) stime(15).
  const ppid = Number(fields[1]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { ppid, cpuSecs: (utime + stime) / TICKS_PER_SECOND };
}

/** User + system CPU seconds one process has used so far (0 once it is gone). */
export function processCpuSecs(pid: number): number {
  return readStat(pid)?.cpuSecs ?? 0;
}

/**
 * CPU seconds of a process and all its children alive now (PostgreSQL: the postmaster, its
 * backends and background workers). A child that exited in between takes its time with it,
 * so keep connections pooled while measuring.
 */
export function processTreeCpuSecs(rootPid: number): number {
  let total = processCpuSecs(rootPid);
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === rootPid) continue;
    const stat = readStat(pid);
    if (stat && stat.ppid === rootPid) total += stat.cpuSecs;
  }
  return total;
}

/** Resident set size in bytes (0 once the process is gone). */
export function processRssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The postmaster's pid of a PostgreSQL data folder (first line of postmaster.pid). */
export function postmasterPid(dataDir: string): number {
  const pid = Number.parseInt(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no postmaster pid in ${dataDir}`);
  return pid;
}
