/**
 * Vitest's global setup: builds what the workerd tests run, once per run. The adapter first (the
 * example imports its `dist`, as a user's worker would), then the example with its own build
 * script, which is the deploy command's dry run and prints the bundle's size, then the fixture
 * worker with the same wrangler.
 */
import { execFileSync } from 'node:child_process';
import { ADAPTER, EXAMPLE, FIXTURE, ROOT } from './paths.js';

const bin = (name: string) => `${ROOT}node_modules/.bin/${name}`;
// Offline: no usage metrics for wrangler to send.
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false' };

function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, env, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

export default function setup(): void {
  run(bin('tsc'), ['-p', 'tsconfig.build.json'], ADAPTER);
  const example = run('npm', ['run', 'build'], EXAMPLE);
  console.log(`examples/cloudflare-worker ${example.trim().split('\n').at(-1)}`);
  run(bin('wrangler'), ['deploy', '--dry-run', '--outdir', 'dist'], FIXTURE);
}
