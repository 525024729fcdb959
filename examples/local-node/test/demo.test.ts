// End-to-end test of the local demo: runs `src/main.ts --once` in a fresh data folder and checks the story it tells.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const EXAMPLE_DIR = fileURLToPath(new URL('..', import.meta.url));
const EXIT_TIMEOUT_MS = 60_000;

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A port nothing listens on right now: the OS picks one, and it is released for the demo. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function runDemoOnce(env: Record<string, string>): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--once'], {
      cwd: EXAMPLE_DIR,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`the demo did not exit within ${EXIT_TIMEOUT_MS} ms; its output:\n${stdout}${stderr}`),
      );
    }, EXIT_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('local demo --once', () => {
  it('retries the charge to success, reruns the shipments through the admin API, fails the loyalty sync, leaves nothing of the rollback, fires the sales report on schedule, and exits 0', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gta-demo-'));
    try {
      const run = await runDemoOnce({ GTA_DEMO_DATA_DIR: dataDir, PORT: String(await freePort()) });
      const output = `${run.stdout}\n${run.stderr}`;
      expect(run.code, output).toBe(0);
      expect(run.stdout).toMatch(/task \d+ charge-card: .*→ initialized \(attempt 1 failed: card declined/);
      expect(run.stdout).toMatch(/task \d+ charge-card: .*→ succeeded \(attempt 2 succeeded/);
      expect(run.stdout).toContain('✓ the retried charge-card tasks succeeded');
      expect(run.stdout).toContain("✓ the rolled-back order's tasks never ran: no row exists");
      expect(run.stdout).toContain('✓ the admin API refused a request without the admin token (401)');
      expect(run.stdout).toMatch(
        /task \d+ book-shipment: .*→ failed \(attempt 1 failed: warehouse booking API offline/,
      );
      expect(run.stdout).toContain(
        '✓ each book-shipment failed, was rerun through the admin API, and succeeded',
      );
      expect(run.stdout).toMatch(/sales report for \d\d:\d\d:\d0: \d+ paid order\(s\)/);
      expect(run.stdout).toMatch(/task \d+ sales-report \[schedule sales-report, slot \d\d:\d\d:\d0\]: /);
      expect(run.stdout).toContain('✓ the sales-report schedule fired on its own, for its slot');
      expect(run.stdout).not.toContain('✗');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
