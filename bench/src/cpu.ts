/**
 * CPU time spent while a system drains, on both sides: this process (the consumer and its driver)
 * and the Postgres server, read from `/proc` when the server runs on this machine. Time, not
 * wall clock: it tells where a task's cost lies, and what one task costs a billed CPU.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { SERVER_URL } from './database.js';

export interface CpuReading {
  /** This process's user and system CPU time, µs. */
  clientUs: number;
  /** All Postgres processes' user and system CPU time, µs; null when they cannot be read here. */
  databaseUs: number | null;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Clock ticks per second of `/proc/<pid>/stat` times; null off Linux. */
const ticksPerSecond: number | null = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || null;
  } catch {
    return null;
  }
})();

const serverIsLocal = LOCAL_HOSTS.has(new URL(SERVER_URL).hostname);

/**
 * The CPU time of every process named `postgres…` (the server, its backends and background
 * workers: autovacuum and the WAL writer belong to a drain's cost too), µs, with that of the ones
 * that ended, which the server (their parent) holds as its children's time: a connection closed
 * during a drain must not take its time with it.
 */
function postgresCpuUs(): number | null {
  if (!serverIsLocal || ticksPerSecond === null) return null;
  let ticks = 0;
  let found = false;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  for (const pid of pids) {
    try {
      if (!readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('postgres')) continue;
      // Fields after the command name, which may hold spaces: utime, stime, and the children's
      // cutime and cstime are the 12th to 15th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      found = true;
    } catch {
      // The process ended while being read.
    }
  }
  return found ? (ticks / ticksPerSecond) * 1e6 : null;
}

export function readCpu(): CpuReading {
  const { user, system } = process.cpuUsage();
  return { clientUs: user + system, databaseUs: postgresCpuUs() };
}

/** CPU µs per task between two readings, each side null when it could not be read. */
export function cpuPerTask(
  start: CpuReading,
  end: CpuReading,
  tasks: number,
): { client: number; database: number | null } {
  const per = (us: number) => us / Math.max(1, tasks);
  return {
    client: per(end.clientUs - start.clientUs),
    database:
      start.databaseUs === null || end.databaseUs === null ? null : per(end.databaseUs - start.databaseUs),
  };
}
