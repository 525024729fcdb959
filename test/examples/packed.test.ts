/**
 * What `npm pack` ships, as a user installs it. Each publishable package's tarball holds its built
 * modules with their declarations and source maps, its README, its LICENSE and its package.json,
 * and nothing else. Installed from those tarballs into a project outside the workspace (so no
 * workspace link can stand in for a missing file), every exported entry point loads, the local
 * demo runs a task on PGlite, a Worker bundled from the packages answers in workerd, and a
 * TypeScript file type-checks against the shipped declarations. Each guarantee next to its test.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = fileURLToPath(new URL('./packed-project/', import.meta.url));

/** The packages published to the registry, by workspace folder. */
const PUBLISHED = {
  '@gta/core': 'core',
  '@gta/cloudflare': 'adapters/cloudflare',
  '@gta/vercel': 'adapters/vercel',
  '@gta/aws-lambda': 'adapters/aws-lambda',
} as const;
type PackageName = keyof typeof PUBLISHED;
const names = Object.keys(PUBLISHED) as PackageName[];

/** What the scratch project installs from the registry besides the tarballs: the demo's database
 * and driver, and the admin entry's optional peers, at the versions the workspace tests. */
const REGISTRY_DEPENDENCIES = ['@electric-sql/pglite', 'drizzle-orm', 'hono', 'zod'];

/** A date the pinned workerd (miniflare 4.20260426.0) supports, as the adapter's fixture uses. */
const COMPATIBILITY_DATE = '2026-04-01';

/** Each file the package always ships besides its build. */
const FIXED_FILES = ['LICENSE', 'README.md', 'package.json'];

interface PackedFile {
  path: string;
  size: number;
}
interface Packed {
  name: PackageName;
  version: string;
  filename: string;
  size: number;
  unpackedSize: number;
  files: PackedFile[];
}

// `npm run` passes its configuration down as npm_config_* variables (the workspace's prefix among
// them); the scratch project's npm must read none of it, as a stranger's would not.
const strangerEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

async function run(command: string, args: string[], cwd: string, timeout: number): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, {
      cwd,
      env: strangerEnv,
      timeout,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

const manifestOf = async (name: PackageName) =>
  JSON.parse(await readFile(`${root}${PUBLISHED[name]}/package.json`, 'utf8')) as Record<string, any>;

/** The files a build of the package's `src` gives: each module, its declarations and its map. */
async function builtFiles(name: PackageName): Promise<string[]> {
  const sources = await readdir(`${root}${PUBLISHED[name]}/src`, { recursive: true });
  return sources
    .filter((file) => file.endsWith('.ts'))
    .flatMap((file) => {
      const module = `dist/${file.slice(0, -'.ts'.length)}`;
      return [`${module}.d.ts`, `${module}.js`, `${module}.js.map`];
    });
}

/** Every file path an exports map (or a `main`/`types` field) points at. */
function targetsOf(exports: unknown): string[] {
  if (typeof exports === 'string') return [exports];
  if (typeof exports !== 'object' || exports === null) return [];
  return Object.values(exports).flatMap(targetsOf);
}

/** The versions the workspace's lockfile resolved, so the scratch install tests what `npm test` does. */
async function workspaceVersions(packages: string[]): Promise<Record<string, string>> {
  const lock = JSON.parse(await readFile(`${root}package-lock.json`, 'utf8')) as {
    packages: Record<string, { version?: string }>;
  };
  return Object.fromEntries(
    packages.map((name) => {
      const version = lock.packages[`node_modules/${name}`]?.version;
      if (!version) throw new Error(`package-lock.json resolves no ${name} at the root`);
      return [name, version];
    }),
  );
}

/** Directories made for the run, removed after it. */
const temporary: string[] = [];
async function temporaryDirectory(prefix: string): Promise<string> {
  const directory = await mkdtemp(path.join(tmpdir(), prefix));
  temporary.push(directory);
  return directory;
}

let tarballs: string;
let scratch: string;
const packed = new Map<PackageName, Packed>();

beforeAll(async () => {
  // What each package's prepack script does, once for the four: turbo's cache makes it a no-op
  // when dist is current. The pack then skips the scripts, whose output would share stdout with
  // the JSON.
  await run(
    'npx',
    ['turbo', 'run', 'build', ...names.map((name) => `--filter=${name}`), '--output-logs=errors-only'],
    root,
    180_000,
  );
  tarballs = await temporaryDirectory('gta-tarballs-');
  const output = await run(
    'npm',
    [
      'pack',
      '--json',
      '--ignore-scripts',
      '--pack-destination',
      tarballs,
      ...names.flatMap((name) => ['-w', name]),
    ],
    root,
    60_000,
  );
  for (const entry of JSON.parse(output) as Packed[]) packed.set(entry.name, entry);
  const sizes = names.map((name) => {
    const { filename, size, unpackedSize, files } = packed.get(name)!;
    return `${filename} ${(size / 1024).toFixed(1)} kB (${(unpackedSize / 1024).toFixed(1)} kB, ${files.length} files)`;
  });
  console.log(`packed:\n  ${sizes.join('\n  ')}`);
}, 240_000);

afterAll(() => Promise.all(temporary.map((directory) => rm(directory, { recursive: true, force: true }))));

// Guarantee: what `npm publish --workspaces` publishes is these four packages: every other
// workspace is private, and none of the four is.
it('publishes exactly the four packages', async () => {
  const workspaces = JSON.parse(await run('npm', ['query', '.workspace'], root, 30_000)) as {
    name: string;
    private?: boolean;
  }[];
  const published = workspaces.filter((workspace) => workspace.private !== true).map(({ name }) => name);
  expect(published.sort()).toEqual([...names].sort());
});

describe.each(names)('the tarball of %s', (name) => {
  // Guarantee: the allow-list. A file in the tarball that no source module or fixed file accounts
  // for (a test, a config, a module left in dist by a source since removed) fails, and so does an
  // expected file that is missing.
  it('holds its built modules, their declarations and maps, README, LICENSE and package.json, and nothing else', async () => {
    const shipped = packed
      .get(name)!
      .files.map((file) => file.path)
      .sort();
    const expected = [...FIXED_FILES, ...(await builtFiles(name))].sort();
    expect(
      shipped,
      `${name}: if dist holds modules of removed sources, delete ${PUBLISHED[name]}/dist and build again`,
    ).toEqual(expected);
  });

  // Guarantee: every path the manifest hands to Node or TypeScript is in the tarball.
  it('contains every target of its exports map, main and types', async () => {
    const manifest = await manifestOf(name);
    const shipped = new Set(packed.get(name)!.files.map((file) => file.path));
    const targets = [...targetsOf(manifest.exports), manifest.main, manifest.types];
    expect(targets.length).toBeGreaterThan(3);
    for (const target of targets)
      expect(shipped, `${name} → ${target}`).toContain(path.posix.normalize(target));
  });

  // Guarantee: the manifest is one a stranger can install: public, MIT with the root's licence
  // text, and no dependency naming the workspace (`workspace:`, `file:`) instead of a version range.
  it('has a publishable manifest and the root LICENSE', async () => {
    const manifest = await manifestOf(name);
    expect(manifest).toMatchObject({ name, license: 'MIT', publishConfig: { access: 'public' } });
    const ranges = {
      ...manifest.dependencies,
      ...manifest.peerDependencies,
      ...manifest.optionalDependencies,
    };
    for (const [dependency, range] of Object.entries(ranges)) {
      expect(range, `${name} → ${dependency}`).toMatch(/^[\^~<>=\d]/);
    }
    const license = await readFile(`${root}${PUBLISHED[name]}/LICENSE`, 'utf8');
    expect(license).toBe(await readFile(`${root}LICENSE`, 'utf8'));
  });
});

describe('installed from the tarballs, outside the workspace', () => {
  beforeAll(async () => {
    scratch = await temporaryDirectory('gta-packed-');
    expect(path.relative(root, scratch).startsWith('..')).toBe(true);
    const dependencies = {
      ...Object.fromEntries(names.map((name) => [name, `file:${tarballs}/${packed.get(name)!.filename}`])),
      ...(await workspaceVersions(REGISTRY_DEPENDENCIES)),
    };
    await writeFile(
      `${scratch}/package.json`,
      `${JSON.stringify({ name: 'gta-packed-scratch', private: true, type: 'module', dependencies }, null, 2)}\n`,
    );
    await cp(fixtures, scratch, { recursive: true });
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'],
      scratch,
      240_000,
    );
  }, 300_000);

  // Guarantee: the ranges between gta packages accept the packed versions. Were the adapters' peer
  // range to refuse the packed core, npm would fail the install or fetch another @gta/core.
  it('resolves one @gta/core for every adapter: the packed one', async () => {
    const lock = JSON.parse(await readFile(`${scratch}/package-lock.json`, 'utf8')) as {
      packages: Record<string, { version?: string; resolved?: string }>;
    };
    const gtaPackages = Object.entries(lock.packages).filter(([location]) =>
      /node_modules\/@gta\//.test(location),
    );
    expect(Object.fromEntries(gtaPackages)).toEqual(
      Object.fromEntries(
        names.map((name) => [
          `node_modules/${name}`,
          expect.objectContaining({
            version: packed.get(name)!.version,
            resolved: `file:${path.relative(scratch, tarballs)}/${packed.get(name)!.filename}`,
          }),
        ]),
      ),
    );
  });

  // Guarantee: every exported entry point resolves and loads in Node, with what it exports.
  it('loads every exported entry point in Node', async () => {
    const loaded = JSON.parse(await run(process.execPath, ['imports.mjs', ...names], scratch, 30_000));
    expect(Object.keys(loaded).sort()).toEqual([
      '@gta/aws-lambda',
      '@gta/cloudflare',
      '@gta/core',
      '@gta/core/admin',
      '@gta/core/testing',
      '@gta/vercel',
    ]);
    expect(loaded['@gta/core']).toEqual(
      expect.arrayContaining(['createTaskManager', 'defineTask', 'migrate']),
    );
    expect(loaded['@gta/core/testing']).toEqual(expect.arrayContaining(['drain', 'enqueuedTasks']));
    expect(loaded['@gta/core/admin']).toContain('createAdminApp');
    for (const adapter of ['@gta/cloudflare', '@gta/vercel', '@gta/aws-lambda']) {
      expect(loaded[adapter], adapter).toEqual(expect.arrayContaining(['handle', 'handleCron', 'waitUntil']));
    }
  });

  // Guarantee: the source maps carry the sources they map to, since src does not ship.
  it('ships source maps that carry their sources', async () => {
    for (const name of names) {
      const dist = `${scratch}/node_modules/${name}/dist`;
      const maps = (await readdir(dist, { recursive: true })).filter((file) => file.endsWith('.js.map'));
      expect(maps.length, name).toBeGreaterThan(0);
      for (const map of maps) {
        const { sources, sourcesContent } = JSON.parse(await readFile(`${dist}/${map}`, 'utf8'));
        expect(sourcesContent?.length, `${name}/dist/${map}`).toBe(sources.length);
        expect(sourcesContent.every((content: unknown) => typeof content === 'string')).toBe(true);
      }
    }
  });

  // Guarantee: the published core alone runs a task on the embedded database: migrate, enqueue in
  // a transaction, and the task has succeeded once the commit hook's work is done.
  it('runs the local demo on PGlite', async () => {
    const output = await run(process.execPath, ['demo.mjs'], scratch, 90_000);
    expect(JSON.parse(output)).toEqual({ status: 'succeeded', attempts: 1, greeted: ['ada'] });
  }, 120_000);

  // Guarantee: a Worker bundled from the published packages runs in workerd: a request enqueues,
  // the task runs in the request's waitUntil after the response, and the next request sees it
  // succeeded. (The dry run's memory table stands for the database: PGlite compiles its WebAssembly
  // at run time, which workerd refuses.)
  it('bundles a Worker that enqueues and runs a task in workerd (Miniflare)', async () => {
    const bundle = `${scratch}/dist/worker.mjs`;
    await build({
      absWorkingDir: scratch,
      entryPoints: ['worker.ts'],
      outfile: bundle,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      conditions: ['workerd', 'worker', 'browser'],
      logLevel: 'error',
    });
    const miniflare = new Miniflare({
      modules: true,
      // workerd refuses module paths that climb out of its root with "..".
      modulesRoot: path.dirname(bundle),
      scriptPath: bundle,
      compatibilityDate: COMPATIBILITY_DATE,
    });
    try {
      const enqueued = await miniflare.dispatchFetch('http://worker.test/greet', { method: 'POST' });
      expect(enqueued.status).toBe(200);
      const { id } = (await enqueued.json()) as { id: number };
      await vi.waitFor(
        async () => {
          const task = await (await miniflare.dispatchFetch(`http://worker.test/tasks/${id}`)).json();
          expect(task).toEqual({ status: 'succeeded', attempts: 1, greeted: ['ada'] });
        },
        { timeout: 10_000, interval: 50 },
      );
    } finally {
      await miniflare.dispose();
    }
  }, 90_000);

  // Guarantee: the shipped declarations are sound and usable: check.ts (every entry point) and the
  // Worker above type-check against them under NodeNext resolution, and the declarations themselves
  // check cleanly, as with `skipLibCheck` off. Only gta's files are checked: other packages'
  // declarations are theirs (drizzle's fail a full library check without mysql2 and @types/node).
  it('type-checks against the shipped declarations', () => {
    const { options, fileNames, errors } = ts.parseJsonConfigFileContent(
      {
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2023', 'DOM'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          types: [],
          noEmit: true,
        },
        files: ['check.ts', 'worker.ts'],
      },
      ts.sys,
      scratch,
    );
    const program = ts.createProgram({ rootNames: fileNames, options });
    const ours = program
      .getSourceFiles()
      .filter(
        (file) => !file.fileName.includes('/node_modules/') || file.fileName.includes('/node_modules/@gta/'),
      );
    expect(ours.filter((file) => file.fileName.includes('/node_modules/@gta/')).length).toBeGreaterThan(
      names.length,
    );
    const diagnostics = [
      ...errors,
      ...program.getOptionsDiagnostics(),
      ...program.getGlobalDiagnostics(),
      ...ours.flatMap((file) => [
        ...program.getSyntacticDiagnostics(file),
        ...program.getSemanticDiagnostics(file),
      ]),
    ];
    const host = {
      getCanonicalFileName: (name: string) => name,
      getCurrentDirectory: () => scratch,
      getNewLine: () => '\n',
    };
    expect(ts.formatDiagnostics(diagnostics, host)).toBe('');
  }, 60_000);
});
