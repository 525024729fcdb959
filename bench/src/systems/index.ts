/**
 * Builds the systems under test with the versions installed. The newer peers (graphile-worker 0.18,
 * pg-boss 12) are installed beside the older ones under npm aliases and loaded only on a Node their
 * `engines` field accepts; elsewhere they are skipped, with the reason.
 * @module
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as graphileWorker017 from 'graphile-worker';
import PgBoss from 'pg-boss';
import type { BenchConfig } from '../config.js';
import { GraphileWorker, type GraphileWorkerLib } from './graphile-worker.js';
import { Gta } from './gta.js';
import { type Boss, type PgBossFlavor, PgBossSystem } from './pg-boss.js';
import { PlainSql } from './plain-sql.js';
import type { System, SystemName } from './types.js';

/** The npm package (or alias) each peer is installed under. */
const PACKAGES: Record<Exclude<SystemName, 'plain-sql'>, string> = {
  gta: '@gta/core',
  'graphile-worker': 'graphile-worker',
  'graphile-worker@0.18': 'graphile-worker-0.18',
  'pg-boss': 'pg-boss',
  'pg-boss@12': 'pg-boss-12',
};

/** The manifest of the package installed as `name` (an alias too), found from this directory up. */
function manifest(name: string): { version?: string; engines?: { node?: string } } | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      return JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8'));
    } catch {}
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The installed version of `name` (a package or an alias), read from its package.json. */
export function packageVersion(name: string): string {
  return manifest(name)?.version ?? 'unknown';
}

/** The versions of every system's package, by system name. */
export function systemVersions(): Record<string, string> {
  return Object.fromEntries(Object.entries(PACKAGES).map(([system, name]) => [system, packageVersion(name)]));
}

/** Whether `version` (x.y.z) is at least `minimum` (x.y.z). */
function atLeast(version: string, minimum: string): boolean {
  const [a, b] = [version, minimum].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i++) {
    if ((a![i] ?? 0) !== (b![i] ?? 0)) return (a![i] ?? 0) > (b![i] ?? 0);
  }
  return true;
}

/**
 * Why `name` cannot run in this process, or null when it can: it is not installed, or its
 * `engines.node` (a `>=x.y.z` range) refuses this Node.
 */
export function unavailable(name: SystemName): string | null {
  if (name === 'plain-sql') return null;
  const found = manifest(PACKAGES[name]);
  if (!found) return `${PACKAGES[name]} is not installed`;
  const range = found.engines?.node;
  const minimum = range && /^>=\s*(\d+\.\d+\.\d+)$/.exec(range.trim())?.[1];
  if (minimum && !atLeast(process.versions.node, minimum)) {
    return `${name.split('@')[0]} ${found.version} requires Node ${range} (its engines field); this run is on Node ${process.versions.node}: run \`npm run bench:node24 -w @gta/bench\``;
  }
  return null;
}

/** Loads a package by a name the type checker does not resolve (the newer peers are ESM-only aliases). */
function load(name: string): Promise<Record<string, unknown>> {
  return import(name);
}

export async function createSystem(
  name: SystemName,
  url: string,
  config: Pick<BenchConfig, 'latencySamples' | 'pollingSamples'>,
  postgresVersion: string,
): Promise<System> {
  if (name === 'plain-sql') return new PlainSql(url, config.latencySamples, postgresVersion);
  const version = packageVersion(PACKAGES[name]);
  switch (name) {
    case 'gta':
      return new Gta(url, version, config.latencySamples);
    case 'graphile-worker':
      return new GraphileWorker(
        name,
        url,
        version,
        config.latencySamples,
        graphileWorker017,
        'graphile_worker',
      );
    case 'graphile-worker@0.18': {
      const lib = (await load(PACKAGES[name])) as unknown as GraphileWorkerLib;
      return new GraphileWorker(name, url, version, config.latencySamples, lib, 'graphile_worker_0_18');
    }
    case 'pg-boss': {
      const flavor: PgBossFlavor = {
        major: 10,
        schema: 'pgboss',
        create: (options) => new PgBoss(options as PgBoss.ConstructorOptions) as unknown as Boss,
        insert: (boss, queue, data) =>
          (boss as unknown as PgBoss).insert(data.map((item) => ({ name: queue, data: item }))),
      };
      return new PgBossSystem(name, url, version, config.latencySamples, config.pollingSamples, flavor);
    }
    case 'pg-boss@12': {
      const { PgBoss: PgBoss12 } = (await load(PACKAGES[name])) as {
        PgBoss: new (
          options: object,
        ) => Boss & {
          insert(name: string, jobs: { data: object }[]): Promise<unknown>;
        };
      };
      const flavor: PgBossFlavor = {
        major: 12,
        schema: 'pgboss_v12',
        create: (options) => new PgBoss12(options),
        insert: (boss, queue, data) =>
          (boss as InstanceType<typeof PgBoss12>).insert(
            queue,
            data.map((item) => ({ data: item })),
          ),
      };
      return new PgBossSystem(name, url, version, config.latencySamples, config.pollingSamples, flavor);
    }
  }
}
