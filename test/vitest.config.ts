import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'conformance/**/*.test.ts',
      'limits/**/*.test.ts',
      'chaos/**/*.test.ts',
      'browser/**/*.test.ts',
      'examples/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One process per file: each driver file configures the Neon driver's process-wide settings.
    pool: 'forks',
  },
});
