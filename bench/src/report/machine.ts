/** The machine a run measured: cores, memory, load, Node and Postgres versions. @module */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface Machine {
  nproc: number;
  cpu: string;
  memory: string;
  loadAverage: [number, number, number];
  node: string;
  postgres: string;
  platform: string;
}

function run(command: string, args: string[]): string | null {
  try {
    return execFileSync(command, args, { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

export function describeMachine(postgres: string): Machine {
  const free = run('free', ['-h'])?.split('\n')[1]?.trim().split(/\s+/);
  const GiB = 1024 ** 3;
  return {
    nproc: Number(run('nproc', [])) || os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memory: free ? `${free[1]} total, ${free[6]} available` : `${(os.totalmem() / GiB).toFixed(1)} GiB total`,
    loadAverage: os.loadavg().map((load) => Math.round(load * 100) / 100) as [number, number, number],
    node: process.version,
    postgres,
    platform: `${os.type()} ${os.release()}`,
  };
}
