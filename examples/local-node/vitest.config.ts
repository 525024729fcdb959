// Vitest settings for the local demo: its one test boots the whole demo, database included, so it gets time.
import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { testTimeout: 90_000 } });
