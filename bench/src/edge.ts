/**
 * The edge measurement on its own: gta on drizzle-orm/neon-http through the local Neon proxy with
 * a round trip added to every request, counting the HTTP requests (Workers subrequests) of the
 * commit hook and of cron ticks. Prints the Markdown section and its targets on stdout, progress
 * on stderr; it makes and drops its own database.
 * Usage (from bench/): `npx tsx src/edge.ts [--quick] [--delay=20]`.
 * @module
 */
import { createBenchDatabase, dropBenchDatabase } from './database.js';
import { DEFAULT_EDGE_DELAY_MS, measureEdge } from './measures/edge.js';
import { edgeMarkdown, edgeTargets } from './report/edge.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const delayArg = argv.find((arg) => arg.startsWith('--delay='));
const delayMs = delayArg === undefined ? DEFAULT_EDGE_DELAY_MS : Number(delayArg.slice('--delay='.length));
if (!(Number.isFinite(delayMs) && delayMs >= 0))
  throw new Error(`--delay takes milliseconds ≥ 0, got ${delayArg}`);

process.stderr.write(
  `edge path, neon-http, ${delayMs} ms added per round trip${quick ? ' (quick sizes)' : ''}\n`,
);
const database = await createBenchDatabase();
try {
  const result = await measureEdge({ quick, delayMs }, database.url);
  const targets = edgeTargets(result)
    .map((target) => `| ${target.target} | ${target.value} | ${target.met ? 'yes' : 'no'} |`)
    .join('\n');
  process.stdout.write(
    `\n### Targets\n\n| target | this run | met |\n| --- | --- | --- |\n${targets}\n\n${edgeMarkdown(result)}`,
  );
} finally {
  await dropBenchDatabase(database.name);
}
