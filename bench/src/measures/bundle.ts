/**
 * 7. Bundle: what gta adds to a deployed script, minified (esbuild) and gzipped. `@gta/core` alone
 * (drizzle-orm, the user's driver, left out) and with the parts of drizzle-orm it pulls in; and
 * the Cloudflare example worker bundled as wrangler would, split by package so that the user's
 * own code (the example's `src/`) can be set apart.
 * @module
 */
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, type Metafile } from 'esbuild';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const workerEntry = resolve(root, 'examples/cloudflare-worker/src/index.ts');

export interface BundleSize {
  name: string;
  minBytes: number;
  gzipBytes: number;
  /** Minified bytes per package (the user's code as `user code`). */
  byPackage?: Record<string, number>;
  note?: string;
}

export interface BundleResult {
  sizes: BundleSize[];
  /** Why the worker could not be measured, if it could not. */
  workerError?: string;
}

const common: BuildOptions = {
  bundle: true,
  minify: true,
  write: false,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  conditions: ['workerd', 'worker', 'browser', 'import'],
  mainFields: ['module', 'main'],
  metafile: true,
  logLevel: 'silent',
  // Metafile paths are then relative to the repository root.
  absWorkingDir: root,
};

async function size(name: string, options: BuildOptions, note?: string): Promise<BundleSize> {
  const result = await build({ ...common, ...options });
  const output = result.outputFiles![0]!.contents;
  return {
    name,
    minBytes: output.byteLength,
    gzipBytes: gzipSync(output, { level: 9 }).byteLength,
    byPackage: byPackage(result.metafile!),
    ...(note ? { note } : {}),
  };
}

/** Minified bytes per package, the example's own sources as `user code`. */
function byPackage(metafile: Metafile): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
      const file = relative(root, resolve(root, path.replace(/^.*?:/, '')));
      const name = file.startsWith('examples/cloudflare-worker/')
        ? 'user code'
        : file.startsWith('core/dist/admin/')
          ? '@gta/core/admin'
          : file.startsWith('core/')
            ? '@gta/core'
            : file.startsWith('adapters/cloudflare/')
              ? '@gta/cloudflare'
              : (/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? file);
      if (bytesInOutput > 0) sizes[name] = (sizes[name] ?? 0) + bytesInOutput;
    }
  }
  return Object.fromEntries(Object.entries(sizes).sort((a, b) => b[1] - a[1]));
}

export async function measureBundle(): Promise<BundleResult> {
  const entry = (contents: string) => ({ stdin: { contents, resolveDir: root, loader: 'ts' as const } });
  const sizes = [
    await size('@gta/core', {
      ...entry(`export * from '@gta/core';`),
      external: ['drizzle-orm', 'drizzle-orm/*'],
    }),
    await size('@gta/core with the drizzle-orm it uses', entry(`export * from '@gta/core';`)),
  ];
  if (!existsSync(workerEntry)) {
    return { sizes, workerError: 'examples/cloudflare-worker/src/index.ts does not exist' };
  }
  try {
    const worker = await size(
      'Cloudflare example worker',
      { entryPoints: [workerEntry], external: ['cloudflare:*', 'node:*'] },
      'the whole script; its own code is `user code`',
    );
    const user = worker.byPackage?.['user code'] ?? 0;
    sizes.push(worker, {
      name: 'Cloudflare example worker without user code',
      minBytes: worker.minBytes - user,
      // gzip does not split by module; the share of the user's code is taken off proportionally.
      gzipBytes: Math.round(worker.gzipBytes * (1 - user / worker.minBytes)),
      note: 'gzip size estimated by proportion',
    });
    return { sizes };
  } catch (error) {
    // esbuild lists its errors (an unbuilt workspace package, say) on the error, not in its message.
    const reasons = (error as { errors?: { text: string }[] }).errors?.map((entry) => entry.text) ?? [];
    const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    return {
      sizes,
      workerError: `the example worker does not bundle: ${[message, ...reasons].join('; ')} (run npm run build first)`,
    };
  }
}
