/** Builds the systems under test with the versions installed. @module */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { BenchConfig } from '../config.js';
import { GraphileWorker } from './graphile-worker.js';
import { Gta } from './gta.js';
import { PgBossSystem } from './pg-boss.js';
import { PlainSql } from './plain-sql.js';
import type { System, SystemName } from './types.js';

const require = createRequire(import.meta.url);

/** The installed version of `name`, read from its package.json. */
export function packageVersion(name: string): string {
  let dir = dirname(require.resolve(name));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === name) return manifest.version ?? 'unknown';
    } catch {}
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

export function createSystem(
  name: SystemName,
  url: string,
  config: Pick<BenchConfig, 'latencySamples' | 'pollingSamples'>,
  postgresVersion: string,
): System {
  switch (name) {
    case 'gta':
      return new Gta(url, packageVersion('@gta/core'), config.latencySamples);
    case 'graphile-worker':
      return new GraphileWorker(url, packageVersion('graphile-worker'), config.latencySamples);
    case 'pg-boss':
      return new PgBossSystem(url, packageVersion('pg-boss'), config.latencySamples, config.pollingSamples);
    case 'plain-sql':
      return new PlainSql(url, config.latencySamples, postgresVersion);
  }
}
