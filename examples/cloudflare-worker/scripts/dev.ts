/**
 * `npm run dev`: the worker in `wrangler dev` (workerd, on this machine, no Cloudflare account)
 * against a local Postgres. The Neon driver talks to Postgres through a WebSocket proxy, as it
 * talks to Neon, so this starts the repository's proxy in front of DATABASE_URL and hands its
 * address to the worker. `--test-scheduled` lets you fire the cron trigger by hand.
 */
import { spawn } from 'node:child_process';
import * as neonProxy from '../../../test/support/neon-proxy/index.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const proxy = await neonProxy.start({ postgresUrl: databaseUrl });
const wrangler = spawn(
  'wrangler',
  [
    'dev',
    '--test-scheduled',
    '--var',
    `DATABASE_URL:${databaseUrl}`,
    '--var',
    `NEON_WS_PROXY:127.0.0.1:${proxy.port}/v2`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
wrangler.on('exit', async (code) => {
  await proxy.close();
  process.exit(code ?? 1);
});
