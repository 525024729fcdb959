// The adapter's tests run the example and a fixture worker in workerd (Miniflare), against the
// real Postgres; the global setup builds the adapter and bundles both workers with wrangler first.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/build.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
