/** Where the workerd tests find the workers they build and run. */
import { fileURLToPath } from 'node:url';

const at = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

export const ROOT = at('../../../../');
export const ADAPTER = at('../../');
export const EXAMPLE = at('../../../../examples/cloudflare-worker/');
export const FIXTURE = at('../fixture/');

/** The example as `npm run build` bundles it: `wrangler deploy --dry-run --outdir dist`. */
export const EXAMPLE_WORKER = { config: `${EXAMPLE}wrangler.toml`, bundle: `${EXAMPLE}dist/index.js` };
export const FIXTURE_WORKER = { config: `${FIXTURE}wrangler.toml`, bundle: `${FIXTURE}dist/worker.js` };
