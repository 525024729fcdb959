/**
 * `npm run dev`: the worker in `wrangler dev` (workerd, on this machine, no Cloudflare account)
 * against a local Postgres. The Neon driver talks to Postgres through a WebSocket proxy, as it
 * talks to Neon, so this starts the repository's proxy in front of DATABASE_URL and hands its
 * address to the worker. `--test-scheduled` lets you fire the cron trigger by hand. Everything it
 * needs is in the workspace (`@gta/neon-proxy`), so it runs with no account and no network. The
 * admin token comes from .dev.vars, else from GTA_ADMIN_TOKEN, else it is a printed local default.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import * as neonProxy from '@gta/neon-proxy';

/** The admin token when neither .dev.vars nor the environment gives one: a local stand-in, printed. */
const LOCAL_ADMIN_TOKEN = 'local-admin-token-0123456789';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// wrangler reads .dev.vars itself: a token there is left to it.
const devVars = await readFile(new URL('../.dev.vars', import.meta.url), 'utf8').catch(() => '');
const adminToken = /^\s*GTA_ADMIN_TOKEN\s*=/m.test(devVars)
  ? undefined
  : process.env.GTA_ADMIN_TOKEN || LOCAL_ADMIN_TOKEN;
if (adminToken === LOCAL_ADMIN_TOKEN) {
  console.log(
    `GTA_ADMIN_TOKEN=${LOCAL_ADMIN_TOKEN} (a local default; set GTA_ADMIN_TOKEN in .dev.vars to choose it)`,
  );
}
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
    ...(adminToken === undefined ? [] : ['--var', `GTA_ADMIN_TOKEN:${adminToken}`]),
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
