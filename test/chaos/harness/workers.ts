/**
 * Worker processes: each runs `worker.ts`, a Node process looping `tick()` on its own pool, as
 * one serverless instance would. The controller kills them with SIGKILL (no cleanup at all).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('../worker.ts', import.meta.url));

export interface WorkerProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

export interface WorkerSettings {
  url: string;
  /** Milliseconds each handler sleeps, at most (uniformly random). */
  maxHandlerMs: number;
  concurrency: number;
}

let counter = 0;

export function spawnWorker(settings: WorkerSettings): WorkerProcess {
  const name = `w${++counter}`;
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    env: {
      ...process.env,
      CHAOS_URL: settings.url,
      CHAOS_WORKER: name,
      CHAOS_MAX_HANDLER_MS: String(settings.maxHandlerMs),
      CHAOS_CONCURRENCY: String(settings.concurrency),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => {
      if (code !== 0 && signal === null && stderr) process.stderr.write(`[chaos ${name}] ${stderr}\n`);
      resolve(code);
    });
  });
  return { name, child, exited };
}

/** Stops a worker gracefully (SIGTERM: it stops its manager and exits), or kills it after `graceMs`. */
export async function stopWorker(worker: WorkerProcess, graceMs = 10_000): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), graceMs);
  await worker.exited;
  clearTimeout(timer);
}

export async function killWorker(worker: WorkerProcess): Promise<void> {
  worker.child.kill('SIGKILL');
  await worker.exited;
}
