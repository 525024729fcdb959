/**
 * A bundled worker running in workerd through Miniflare, configured from its `wrangler.toml`
 * (compatibility date and flags, the cron trigger) plus the bindings a test gives. Its output is
 * kept, so a test reads the tick reports the worker logs, as an operator would.
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { TickReport } from '@gta/core';
import { Miniflare } from 'miniflare';
import { unstable_readConfig } from 'wrangler';
import { eventually } from './poll.js';

export interface WorkerOptions {
  /** The worker's `wrangler.toml` and the bundle wrangler built from it. */
  worker: { config: string; bundle: string };
  bindings: Record<string, string>;
  /** Hyperdrive bindings, by name: the Postgres each one reaches. */
  hyperdrives?: Record<string, string>;
}

export interface RunningWorker {
  /** Sends a request to the worker; resolves with the response, while `waitUntil` work may go on. */
  fetch(pathname: string, init?: RequestInit): Promise<Response>;
  /**
   * Fires the cron trigger of `wrangler.toml`, and resolves, once the event and its `waitUntil`
   * work are over, with the report its tick logged.
   */
  cron(): Promise<TickReport>;
  /** Every tick report the worker has logged, in order. */
  readonly reports: TickReport[];
  /** The worker's output, line by line. */
  readonly output: string[];
  dispose(): Promise<void>;
}

const TICK_DONE = '[gta] info cron tick done ';

export async function startWorker({
  worker,
  bindings,
  hyperdrives = {},
}: WorkerOptions): Promise<RunningWorker> {
  const config = unstable_readConfig({ config: worker.config });
  const [cron] = config.triggers.crons ?? [];
  if (!cron) throw new Error(`${worker.config} has no cron trigger`);
  const output: string[] = [];
  const collect = (stream: Readable) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      output.push(...lines);
    });
  };
  const miniflare = new Miniflare({
    modules: true,
    // workerd refuses module paths that climb out of its root with "..".
    modulesRoot: path.dirname(worker.bundle),
    scriptPath: worker.bundle,
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags,
    bindings,
    hyperdrives,
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      collect(stdout);
      collect(stderr);
    },
  });
  await miniflare.ready;
  const reports = () =>
    output
      .filter((line) => line.startsWith(TICK_DONE))
      .map((line) => JSON.parse(line.slice(TICK_DONE.length)) as TickReport);
  return {
    // Miniflare types its requests and responses with undici's classes, which match the web's.
    fetch: (pathname, init) =>
      miniflare.dispatchFetch(`http://worker.test${pathname}`, init as never) as unknown as Promise<Response>,
    async cron() {
      const before = reports().length;
      const result = await (await miniflare.getWorker()).scheduled({ cron });
      if (result.outcome !== 'ok') {
        throw new Error(`the cron event ended with ${result.outcome}:\n${output.join('\n')}`);
      }
      await eventually('the tick report in the worker log', () => reports().length > before);
      return reports().at(-1)!;
    },
    get reports() {
      return reports();
    },
    output,
    dispose: () => miniflare.dispose(),
  };
}
