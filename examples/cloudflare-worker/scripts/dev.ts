/**
 * `npm run dev`: the worker in `wrangler dev` (workerd, on this machine, no Cloudflare account)
 * against a local Postgres. The Neon driver talks to Postgres through a WebSocket proxy, as it
 * talks to Neon, so this starts the repository's proxy in front of DATABASE_URL and hands its
 * address to the worker. `--test-scheduled` lets you fire the cron trigger by hand. Everything it
 * needs is in the workspace (`@gta/neon-proxy`), so it runs with no account and no network.
 */
import { spawn } from 'node:child_process';
import * as neonProxy from '@gta/neon-proxy';

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
  // Offline by default: wrangler would fetch a real `request.cf` from Cloudflare and print a stack
  // when it cannot; the worker runs with wrangler's placeholder instead.
  { stdio: 'inherit', env: { CLOUDFLARE_CF_FETCH_ENABLED: 'false', ...process.env } },
);
wrangler.on('exit', async (code) => {
  await proxy.close();
  process.exit(code ?? 1);
});
