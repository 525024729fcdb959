/**
 * Runs the local demo (examples/local-node) as a child process on a free port and a fresh data
 * folder, for the browser test: started, waited for, and stopped with SIGTERM like an operator would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/servers.js';

const DEMO_DIR = fileURLToPath(new URL('../../examples/local-node/', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

export interface DemoServer {
  baseUrl: string;
  /** Everything the demo printed so far, for failure messages. */
  output(): string;
  /** SIGTERM, then waits for the exit (SIGKILL if the graceful stop hangs); removes the data folder. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts the demo and resolves once it prints `readyLine`. */
export async function startDemo({
  adminToken,
  readyLine,
}: {
  adminToken: string;
  readyLine: string;
}): Promise<DemoServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gta-browser-demo-'));
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: DEMO_DIR,
    env: { ...process.env, PORT: String(port), GTA_DEMO_DATA_DIR: dataDir, GTA_ADMIN_TOKEN: adminToken },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`the demo did not print "${readyLine}" within ${START_TIMEOUT_MS} ms:\n${output}`)),
      START_TIMEOUT_MS,
    );
    const collect = (chunk: string) => {
      output += chunk;
      if (output.includes(readyLine)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.setEncoding('utf8').on('data', collect);
    child.stderr!.setEncoding('utf8').on('data', collect);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited early (${code ?? signal}):\n${output}`));
    });
  });
  const stop = async () => {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited(child);
    clearTimeout(killer);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await ready;
  } catch (error) {
    await stop();
    throw error;
  }
  return { baseUrl: `http://127.0.0.1:${port}`, output: () => output, stop };
}
