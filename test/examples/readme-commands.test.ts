/**
 * Every shell command of the repository's markdown, accounted for, so that no README can drift
 * from what runs. The inventory reads each fenced sh, bash, shell or console block of every tracked
 * markdown file and splits it into commands; the table below classifies each one once: run by
 * this test, run by another named test (whose file must still hold what runs it), needing a cloud
 * account or a deploy, needing the published packages, or a developer's long-running tool whose npm
 * scripts and options are checked here. A command no row classifies fails, and so does a row that
 * no markdown file has any more.
 *
 * What can run on this machine runs here, through `bash -c` as written but for the port: the
 * examples' builds, the local demo's `npm start` (once, and serving) with the README's POST /orders
 * and docs/admin.md's curl lines against it, and the Cloudflare example's `npm run dev` on a fresh
 * database with its README's curl flow. Each guarantee next to its test.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MEASURES, parseConfig, SYSTEMS } from '../../bench/src/config.js';
import {
  createPostgresDatabase,
  postgresAvailable,
  type TestDatabase,
} from '../../core/test/support/databases.js';
import { curl, freePort, type Server, startServer } from '../support/servers.js';

const execFileAsync = promisify(execFile);
const hasPostgres = await postgresAvailable();
const root = fileURLToPath(new URL('../..', import.meta.url));

/** A cached turbo build takes a second; one that compiles @gta/core takes about twenty. */
const BUILD_TIMEOUT_MS = 180_000;
/** `npm start` compiles @gta/core, then PGlite creates its data folder: tens of seconds on two busy cores. */
const STARTUP_TIMEOUT_MS = 180_000;
/** The demo's `--once` scenario takes about fifteen seconds after its start. */
const ONCE_TIMEOUT_MS = 240_000;
/** How long work that goes on after a response (a task, a tick) may take to show. */
const SETTLE_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;

/** The admin token the local demo gets from GTA_ADMIN_TOKEN, as docs/admin.md has the reader set it. */
const DEMO_ADMIN_TOKEN = 'readme-admin-token-0123456789';
/** The Cloudflare dev script's printed default, which its README's lines use. */
const WORKER_ADMIN_TOKEN = 'local-admin-token-0123456789';
/** What the examples and the demo read: each child starts without them but for what a step sets. */
const EXAMPLE_VARIABLES = [
  'DATABASE_URL',
  'PORT',
  'GTA_ADMIN_TOKEN',
  'GTA_DEMO_DATA_DIR',
  'DEMO_ONCE',
  'TASK_ID',
];

function environment(set: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = { ...process.env };
  for (const name of EXAMPLE_VARIABLES) delete inherited[name];
  return { ...inherited, ...set };
}

interface Command {
  /** The markdown file, relative to the root. */
  file: string;
  /** The command: continuation lines joined, a console prompt and a trailing comment dropped. */
  text: string;
}

const SHELL_LANGUAGES = new Set(['sh', 'bash', 'shell', 'console']);
const FENCE = /^\s*(`{3,}|~{3,})(.*)$/;

/** The commands of every fenced shell block of `markdown`, in order. */
function shellCommands(file: string, markdown: string): Command[] {
  const commands: Command[] = [];
  let block: { fence: string; language: string; lines: string[] } | undefined;
  for (const line of markdown.split('\n')) {
    const fence = FENCE.exec(line);
    if (!block) {
      if (fence) block = { fence: fence[1]!, language: fence[2]!.trim().split(/\s+/)[0]!, lines: [] };
      continue;
    }
    const closes =
      fence && fence[1]![0] === block.fence[0] && fence[1]!.length >= block.fence.length && !fence[2]!.trim();
    if (!closes) {
      block.lines.push(line);
      continue;
    }
    if (SHELL_LANGUAGES.has(block.language)) {
      for (const text of splitCommands(block.lines, block.language === 'console'))
        commands.push({ file, text });
    }
    block = undefined;
  }
  return commands;
}

/**
 * A block's commands: a line ending in `\` continues on the next, a line that is only a comment is
 * none, and in a console block only a line that starts with a `$ ` prompt starts one (the others
 * are output).
 */
function splitCommands(lines: string[], prompted: boolean): string[] {
  const commands: string[] = [];
  let current: string | undefined;
  for (const raw of lines) {
    let line = raw.trim();
    if (current === undefined) {
      if (prompted) {
        if (!line.startsWith('$ ')) continue;
        line = line.slice(2).trim();
      }
      if (line === '' || line.startsWith('#')) continue;
    }
    const continues = line.endsWith('\\');
    const part = continues ? line.slice(0, -1).trimEnd() : line;
    current = current === undefined ? part : `${current} ${part}`;
    if (!continues) {
      commands.push(withoutComment(current));
      current = undefined;
    }
  }
  if (current !== undefined) commands.push(withoutComment(current));
  return commands;
}

/** The command before its trailing comment: a `#` that starts a word outside quotes. */
function withoutComment(command: string): string {
  let quote: string | undefined;
  for (let index = 0; index < command.length; index++) {
    const char = command[index]!;
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') {
      quote = char;
    } else if (char === '#' && (index === 0 || /\s/.test(command[index - 1]!))) {
      return command.slice(0, index).trimEnd();
    }
  }
  return command;
}

async function tracked(pattern: string): Promise<string[]> {
  const { stdout } = await execFileAsync('git', ['ls-files', pattern], { cwd: root });
  return stdout.split('\n').filter(Boolean);
}

const markdownFiles = (await tracked('*.md')).filter(
  (file) => !/(^|\/)node_modules\//.test(file) && !file.startsWith('bench/results/'),
);
const inventory: Command[] = [];
for (const file of markdownFiles)
  inventory.push(...shellCommands(file, await readFile(`${root}${file}`, 'utf8')));

/** The runs of this file, each a test below. */
type Scenario = 'builds' | 'demo once' | 'demo' | 'orders' | 'admin' | 'cloudflare dev' | 'cloudflare';

type Coverage =
  /** Run by this test, in that scenario; `skipping` a prefix already done before any test runs. */
  | { kind: 'run'; scenario: Scenario; skipping?: { prefix: string; because: string } }
  /** Run by another test or CI script, `file`, which holds `holds` (what runs it). */
  | { kind: 'test'; file: string; holds: string; how: string }
  /** Needs a cloud account or a deploy. */
  | { kind: 'deploy'; why: string }
  /** Installs the published packages from the npm registry; each name is checked to be one. */
  | { kind: 'registry'; why: string }
  /** A developer's long-running tool; its npm scripts, options and files are checked. */
  | { kind: 'by hand'; why: string };

const run = (scenario: Scenario, skipping?: { prefix: string; because: string }): Coverage =>
  skipping ? { kind: 'run', scenario, skipping } : { kind: 'run', scenario };
const covered = (file: string, holds: string, how: string): Coverage => ({ kind: 'test', file, holds, how });
const deploy = (why: string): Coverage => ({ kind: 'deploy', why });
const registry = (why: string): Coverage => ({ kind: 'registry', why });
const byHand = (why: string): Coverage => ({ kind: 'by hand', why });

const WORKSPACE_INSTALL = covered(
  '.ci/run',
  'npm ci',
  "CI installs the workspace from its lockfile before the suites, as a fresh clone's npm install does",
);
const DEV_SERVER = covered(
  'test/examples/dev-servers.test.ts',
  "command: ['npm', 'run', 'dev']",
  "runs the example's npm run dev from its folder (what -w does) on a free PORT, on PGlite and on a fresh Postgres",
);
const LOCAL_FLOW = covered(
  'test/examples/dev-servers.test.ts',
  '## Run it locally',
  'runs the "Run it locally" curl lines in order against that server, port swapped, and checks each answer',
);
const PUBLISHED = registry(
  'installs the published packages from the npm registry; packed.test.ts installs the gta ones from their tarballs, outside the workspace',
);
const MEASURES_BY_HAND = byHand(
  'measures for minutes on a quiet machine: run by hand, its figures read by a person',
);
const VERCEL_DEPLOYED = deploy('a deployed Vercel project (<your-app>.vercel.app)');
const LAMBDA_DEPLOYED = deploy('the API Gateway address of a `sam deploy` to an AWS account ($API_URL)');

/** Each markdown file's commands, as the inventory reads them, with how each is covered. */
const COMMANDS: Record<string, [command: string, coverage: Coverage][]> = {
  'README.md': [
    [
      'npm install && npm start',
      run('demo', {
        prefix: 'npm install && ',
        because: "the workspace is installed before any test runs (.ci/run's npm ci)",
      }),
    ],
    ['npm test', covered('.ci/run', 'npm test', "CI runs the README's test command, with Postgres required")],
  ],
  'core/README.md': [['npm install @gta/core drizzle-orm', PUBLISHED]],
  'adapters/aws-lambda/README.md': [['npm install @gta/aws-lambda @gta/core drizzle-orm pg', PUBLISHED]],
  'adapters/cloudflare/README.md': [
    ['npm install @gta/cloudflare @gta/core drizzle-orm @neondatabase/serverless', PUBLISHED],
  ],
  'adapters/vercel/README.md': [['npm install @gta/vercel @gta/core drizzle-orm pg', PUBLISHED]],
  'bench/README.md': [
    ['npm run bench', MEASURES_BY_HAND],
    ['npm run bench -w @gta/bench', MEASURES_BY_HAND],
    ['npm run bench -w @gta/bench -- --quick', MEASURES_BY_HAND],
    ['npm run bench -w @gta/bench -- --only=drain,latency', MEASURES_BY_HAND],
    ['npm run bench -w @gta/bench -- --systems=gta,plain-sql', MEASURES_BY_HAND],
    [
      'npm run bench:node24 -w @gta/bench -- --quick',
      byHand('the same under Node 24, which it installs into bench/node24 from the registry the first time'),
    ],
    [
      'npm run build -w @gta/core && npm run snapshot -w @gta/bench -- before',
      byHand('a snapshot of core/dist before a change to core/src, for the A/B drain'),
    ],
    [
      'npm run build -w @gta/core && npm run snapshot -w @gta/bench -- after',
      byHand('a snapshot of core/dist after the change, for the A/B drain'),
    ],
    ['npm run ab -w @gta/bench -- before after --rounds=8', MEASURES_BY_HAND],
    [
      'createdb -h 127.0.0.1 -U postgres gta_memory',
      byHand('the database of the memory sample below, made once and kept for it'),
    ],
    [
      `cd bench && node --expose-gc --trace-gc-nvp --import tsx src/memory-child.ts gta 100000 postgres://postgres@127.0.0.1:5432/gta_memory 15 2>&1 | grep 'gc=s ' | grep -oE ' promoted=[0-9]+' | awk -F= '{ sum += $2 } END { print sum / 1e6 " MB promoted by " NR " young-generation collections" }'`,
      byHand(
        "a 100,000-task drain under V8's collection trace, minutes long; its figure is read by a person",
      ),
    ],
  ],
  'docs/admin.md': [
    ['curl localhost:3000/admin/api/stats -H "authorization: Bearer $GTA_ADMIN_TOKEN"', run('admin')],
    [
      'curl "localhost:3000/admin/api/tasks?status=failed&limit=10" -H "authorization: Bearer $GTA_ADMIN_TOKEN"',
      run('admin'),
    ],
    [
      `curl -X POST localhost:3000/admin/api/tasks/$TASK_ID/rerun -H "authorization: Bearer $GTA_ADMIN_TOKEN" -H 'content-type: application/json' -d '{"status":"failed"}'`,
      run('admin'),
    ],
    [
      `curl -X POST localhost:3000/admin/api/schedules/sales-report/trigger -H "authorization: Bearer $GTA_ADMIN_TOKEN" -H 'content-type: application/json' -d '{}'`,
      run('admin'),
    ],
  ],
  'examples/aws-lambda/README.md': [
    ['npm install', WORKSPACE_INSTALL],
    ['npx turbo run build --filter=@gta/example-aws-lambda^...', run('builds')],
    ['npm run dev -w @gta/example-aws-lambda', DEV_SERVER],
    [
      `curl -X POST localhost:3000/signup -H 'content-type: application/json' -d '{"email":"ada@example.com"}'`,
      LOCAL_FLOW,
    ],
    [
      "curl 'localhost:3000/admin/api/tasks?key=send-welcome' -H 'authorization: Bearer local-admin-token-0123456789'",
      LOCAL_FLOW,
    ],
    [
      `curl -X POST localhost:3000/admin/api/tasks/1/rerun -H 'authorization: Bearer local-admin-token-0123456789' -H 'content-type: application/json' -d '{"status":"succeeded"}'`,
      LOCAL_FLOW,
    ],
    ['curl -X POST localhost:3000/__tick', LOCAL_FLOW],
    [
      "curl localhost:3000/admin/api/tasks/1 -H 'authorization: Bearer local-admin-token-0123456789'",
      LOCAL_FLOW,
    ],
    [
      `curl -X POST "$API_URL/signup" -H 'content-type: application/json' -d '{"email":"ada@example.com"}'`,
      LAMBDA_DEPLOYED,
    ],
    ['curl "$API_URL/admin/api/stats" -H "authorization: Bearer $ADMIN_TOKEN"', LAMBDA_DEPLOYED],
    ['sam logs --stack-name <stack> --tail', deploy('the CloudWatch logs of a deployed stack')],
  ],
  'examples/cloudflare-worker/README.md': [
    ['npm install', WORKSPACE_INSTALL],
    ['npx turbo run build --filter=@gta/example-cloudflare-worker^...', run('builds')],
    ['npm run dev -w @gta/example-cloudflare-worker', run('cloudflare dev')],
    [
      "curl -X POST localhost:8787/setup -H 'authorization: Bearer local-admin-token-0123456789'",
      run('cloudflare'),
    ],
    [
      `curl -X POST localhost:8787/teams -H 'content-type: application/json' -d '{"name":"Acme","seats":3}'`,
      run('cloudflare'),
    ],
    [
      `curl -X POST localhost:8787/teams/1/invitations -H 'content-type: application/json' -d '{"emails":["ada@example.com"]}'`,
      run('cloudflare'),
    ],
    ['curl "localhost:8787/__scheduled?cron=*+*+*+*+*"', run('cloudflare')],
  ],
  'examples/local-node/README.md': [
    ['npm start', run('demo')],
    ['DEMO_ONCE=1 npm start', run('demo once')],
    [
      'npx tsx src/main.ts --once',
      covered(
        'examples/local-node/test/demo.test.ts',
        "'src/main.ts', '--once'",
        'runs the same program with --once in a temporary data folder, through node --import tsx (what npx tsx runs)',
      ),
    ],
    [
      'npm test',
      covered(
        'package.json',
        'turbo run test',
        "the root npm test (.ci/run) runs every workspace's test script, this one's (vitest run: test/demo.test.ts) among them",
      ),
    ],
    [
      `curl -X POST localhost:3000/orders -d '{"email":"grace@example.com","item":"coffee","loyalty":true}'`,
      run('orders'),
    ],
  ],
  'examples/vercel/README.md': [
    ['npm install', WORKSPACE_INSTALL],
    ['npx turbo run build --filter=@gta/example-vercel^...', run('builds')],
    ['npm run dev -w @gta/example-vercel', DEV_SERVER],
    [
      `curl -X POST localhost:3000/api/signup -H 'content-type: application/json' -d '{"email":"ada@example.com"}'`,
      LOCAL_FLOW,
    ],
    [
      "curl 'localhost:3000/api/admin/api/tasks?key=send-welcome' -H 'authorization: Bearer local-admin-token-0123456789'",
      LOCAL_FLOW,
    ],
    [
      `curl -X POST localhost:3000/api/admin/api/tasks/1/rerun -H 'authorization: Bearer local-admin-token-0123456789' -H 'content-type: application/json' -d '{"status":"succeeded"}'`,
      LOCAL_FLOW,
    ],
    ["curl localhost:3000/api/cron -H 'authorization: Bearer local-cron-secret-0123456789'", LOCAL_FLOW],
    [
      "curl localhost:3000/api/admin/api/tasks/1 -H 'authorization: Bearer local-admin-token-0123456789'",
      LOCAL_FLOW,
    ],
    [
      `curl -X POST https://<your-app>.vercel.app/api/signup -H 'content-type: application/json' -d '{"email":"ada@example.com"}'`,
      VERCEL_DEPLOYED,
    ],
    [
      'curl https://<your-app>.vercel.app/api/admin/api/stats -H "authorization: Bearer $ADMIN_TOKEN"',
      VERCEL_DEPLOYED,
    ],
    [
      'curl https://<your-app>.vercel.app/api/admin/api/unsuccessful -H "authorization: Bearer $ADMIN_TOKEN"',
      VERCEL_DEPLOYED,
    ],
    [
      `curl -X POST https://<your-app>.vercel.app/api/admin/api/tasks/1/rerun -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' -d '{"status":"failed"}'`,
      VERCEL_DEPLOYED,
    ],
    ['curl https://<your-app>.vercel.app/api/cron -H "authorization: Bearer $CRON_SECRET"', VERCEL_DEPLOYED],
  ],
};

/** `<file>: <command>`, one key per row and per command found. */
const keyOf = (file: string, command: string) => `${file}: ${command}`;
const table = new Map(
  Object.entries(COMMANDS).flatMap(([file, rows]) =>
    rows.map(([command, coverage]) => [keyOf(file, command), coverage] as const),
  ),
);
const tableRows = Object.values(COMMANDS).reduce((count, rows) => count + rows.length, 0);

const coverageOf = (command: Command) => table.get(keyOf(command.file, command.text));
const classified = (kind: Coverage['kind']) =>
  inventory.filter((command) => coverageOf(command)?.kind === kind);

/** The commands a scenario runs, in the order of the inventory (each file's own order). */
function commandsOf(scenario: Scenario): Command[] {
  return inventory.filter((command) => {
    const coverage = coverageOf(command);
    return coverage?.kind === 'run' && coverage.scenario === scenario;
  });
}

/** The command as this test runs it: without the prefix its row skips. */
function asRun(command: Command): string {
  const coverage = coverageOf(command);
  const skipping = coverage?.kind === 'run' ? coverage.skipping : undefined;
  if (!skipping) return command.text;
  expect(command.text.startsWith(skipping.prefix), `${command.text}: ${skipping.because}`).toBe(true);
  return command.text.slice(skipping.prefix.length);
}

interface Workspace {
  name: string;
  private?: boolean;
  scripts?: Record<string, string>;
}

const { stdout: workspaceJson } = await execFileAsync('npm', ['query', '.workspace'], { cwd: root });
const workspaces = JSON.parse(workspaceJson) as Workspace[];
const rootManifest = JSON.parse(await readFile(`${root}package.json`, 'utf8')) as Workspace;

interface NpmRun {
  script: string;
  /** The `-w` workspace; the root when absent. */
  workspace: string | undefined;
  /** What comes after `--`, handed to the script. */
  args: string[];
}

/** Each `npm run <script> [-w <workspace>] [-- <arguments>]` of a command line, at `&&` and `|`. */
function npmRuns(command: string): NpmRun[] {
  return command.split(/&&|\|/).flatMap((segment) => {
    const words = segment.trim().split(/\s+/);
    // Variables set for the command (`DEMO_ONCE=1 npm start`) come first.
    while (words[0] && /^\w+=/.test(words[0])) words.shift();
    if (words[0] !== 'npm' || words[1] !== 'run') return [];
    const dashes = words.indexOf('--');
    const own = dashes < 0 ? words.slice(2) : words.slice(2, dashes);
    const flag = own.indexOf('-w');
    return [
      {
        script: own[0]!,
        workspace: flag < 0 ? undefined : own[flag + 1],
        args: dashes < 0 ? [] : words.slice(dashes + 1),
      },
    ];
  });
}

function scriptsOf(workspace: string | undefined): Record<string, string> {
  if (workspace === undefined) return rootManifest.scripts ?? {};
  const found = workspaces.find((candidate) => candidate.name === workspace);
  if (!found) throw new Error(`no workspace ${workspace}`);
  return found.scripts ?? {};
}

/** The bench's parser takes the option when it changes the configuration from the defaults. */
function benchParserTakes(option: string): void {
  expect(parseConfig([option]), option).not.toEqual(parseConfig([]));
}

/** A script without a parser to import: its source must read the option's flag. */
const readBy = (file: string) => async (option: string) => {
  const flag = option.includes('=') ? option.slice(0, option.indexOf('=') + 1) : option;
  expect(await readFile(`${root}${file}`, 'utf8'), `${file} reads ${flag}`).toContain(`'${flag}`);
};

/** Where each script's options go, by `<workspace> <script>`. */
const OPTION_CHECKS: Record<string, (option: string) => void | Promise<void>> = {
  '@gta/bench bench': benchParserTakes,
  // scripts/node24.mjs hands its arguments to src/main.ts, the `bench` script's entry.
  '@gta/bench bench:node24': benchParserTakes,
  '@gta/bench ab': readBy('bench/src/ab.ts'),
};

describe('the shell commands of the markdown files', () => {
  // Guarantee: the table and the markdown agree, command for command, both ways.
  it('are each classified by one row of the table, and the table has no row they lost', () => {
    const found = new Set(inventory.map(({ file, text }) => keyOf(file, text)));
    expect(table.size, 'rows that classify the same command twice').toBe(tableRows);
    expect(
      [...found].filter((command) => !table.has(command)),
      'commands no row classifies',
    ).toEqual([]);
    expect(
      [...table.keys()].filter((row) => !found.has(row)),
      'rows no markdown file has any more',
    ).toEqual([]);
  });

  // Guarantee: a row that names another test is not stale: that file exists and still holds what
  // runs the command.
  it('name tests that exist and still hold what runs the command', async () => {
    for (const command of classified('test')) {
      const coverage = coverageOf(command) as Extract<Coverage, { kind: 'test' }>;
      const source = await readFile(`${root}${coverage.file}`, 'utf8');
      expect(source, `${command.file}: ${command.text} → ${coverage.file} ${coverage.how}`).toContain(
        coverage.holds,
      );
    }
  });

  // Guarantee: every `npm run` in any markdown file names a script the package it targets has.
  it('run npm scripts that exist in the package they name', () => {
    const runs = inventory.flatMap((command) => npmRuns(command.text).map((npmRun) => ({ command, npmRun })));
    expect(runs).not.toHaveLength(0);
    for (const { command, npmRun } of runs) {
      expect(
        Object.keys(scriptsOf(npmRun.workspace)),
        `${command.file}: ${command.text} → ${npmRun.workspace ?? 'the root'}`,
      ).toContain(npmRun.script);
    }
  });

  // Guarantee: an install line names only packages a user can get: one this workspace publishes,
  // or one its lockfile resolves.
  it('install only packages the workspace publishes or locks', async () => {
    const lock = JSON.parse(await readFile(`${root}package-lock.json`, 'utf8')) as {
      packages: Record<string, unknown>;
    };
    const published = new Set(workspaces.filter((workspace) => !workspace.private).map(({ name }) => name));
    const installs = classified('registry');
    expect(installs).not.toHaveLength(0);
    for (const { file, text } of installs) {
      const [npm, verb, ...packages] = text.split(/\s+/);
      expect(`${npm} ${verb}`, `${file}: ${text}`).toBe('npm install');
      for (const name of packages) {
        expect(
          published.has(name) || `node_modules/${name}` in lock.packages,
          `${file}: ${name} is neither a published workspace nor in package-lock.json`,
        ).toBe(true);
      }
    }
  });

  // Guarantee: the tools run by hand are still there as documented: each option goes to a parser
  // that takes it, and each file a `node` command runs exists.
  it('run by hand with options their parsers take and files that exist', async () => {
    for (const { file, text } of classified('by hand')) {
      for (const { script, workspace, args } of npmRuns(text)) {
        const options = args.filter((arg) => arg.startsWith('--'));
        if (options.length === 0) continue;
        const check = OPTION_CHECKS[`${workspace} ${script}`];
        expect(check, `${file}: no check for the options of ${workspace} ${script}`).toBeDefined();
        for (const option of options) await check!(option);
      }
      let directory = root;
      for (const segment of text.split(/&&|\|/).map((part) => part.trim().split(/\s+/))) {
        if (segment[0] === 'cd') directory = path.join(directory, segment[1]!);
        if (segment[0] !== 'node') continue;
        for (const script of segment.filter((word) => /\.(ts|mjs|js)$/.test(word))) {
          expect(existsSync(path.join(directory, script)), `${file}: ${script} in ${directory}`).toBe(true);
        }
      }
    }
  });

  // Guarantee: the bench README's lists of what `--only=` and `--systems=` take are the parser's.
  it("list the bench's measurements and systems as its parser knows them", async () => {
    const readme = await readFile(`${root}bench/README.md`, 'utf8');
    const listed = (flag: string) => {
      // Up to the end of its clause: a `;` or a full stop (not the one inside `graphile-worker@0.18`).
      const sentence = new RegExp(`\`--${flag}=\` takes ([\\s\\S]*?)(?:;|\\.\\s)`).exec(readme);
      expect(sentence, `bench/README.md: "\`--${flag}=\` takes …"`).not.toBeNull();
      return [...sentence![1]!.matchAll(/`([^`]+)`/g)].map((match) => match[1]!).sort();
    };
    expect(listed('only')).toEqual([...MEASURES].sort());
    expect(listed('systems')).toEqual([...SYSTEMS].sort());
  });
});

/** Directories made for the run, removed after it. */
const temporary: string[] = [];
async function temporaryDirectory(prefix: string): Promise<string> {
  const directory = await mkdtemp(path.join(tmpdir(), prefix));
  temporary.push(directory);
  return directory;
}
afterAll(() => Promise.all(temporary.map((directory) => rm(directory, { recursive: true, force: true }))));

/** Runs a command through `bash -c` from the root; its exit code and everything it printed. */
async function shell(
  command: string,
  { env, timeout }: { env: NodeJS.ProcessEnv; timeout: number },
): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('bash', ['-c', command], {
      cwd: root,
      env,
      timeout,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

/** What one README line must answer, and what the next lines take from the answer. */
interface Step {
  line: RegExp;
  status: number;
  body: unknown;
  /** Work that ends after other responses: the line is run again until it answers so. */
  eventually?: boolean;
}

/** Runs `step`'s line (again while it is `eventually` and answers otherwise), and checks the answer. */
async function answers(
  line: string,
  step: Step,
  target: { from: string; to: string; env?: NodeJS.ProcessEnv },
): Promise<unknown> {
  expect(line).toMatch(step.line);
  const expected = { status: step.status, body: step.body };
  const answer = async () => {
    const got = await curl(line, target);
    expect(got, line).toEqual(expected);
    return got.body;
  };
  if (!step.eventually) return answer();
  return vi.waitFor(answer, { timeout: SETTLE_TIMEOUT_MS, interval: 250 });
}

// Guarantee: each example's build line, run as written, builds what its dev server imports.
it(
  "builds the examples' packages as their READMEs say",
  async () => {
    const builds = commandsOf('builds');
    expect(builds.map(({ file }) => file).sort()).toEqual([
      'examples/aws-lambda/README.md',
      'examples/cloudflare-worker/README.md',
      'examples/vercel/README.md',
    ]);
    for (const build of builds) {
      const { code, output } = await shell(asRun(build), { env: environment(), timeout: BUILD_TIMEOUT_MS });
      expect(code, `${build.text}\n${output}`).toBe(0);
    }
  },
  3 * BUILD_TIMEOUT_MS,
);

// Guarantee: `DEMO_ONCE=1 npm start` plays the scenario once, prints its summary and exits 0, as
// the local-node README says; a check that went wrong prints a ✗ and exits 1.
it(
  'DEMO_ONCE=1 npm start plays the demo once and exits 0',
  async () => {
    const [once, ...others] = commandsOf('demo once');
    expect(others).toEqual([]);
    const { code, output } = await shell(asRun(once!), {
      env: environment({
        PORT: String(await freePort()),
        GTA_DEMO_DATA_DIR: await temporaryDirectory('gta-readme-once-'),
      }),
      timeout: ONCE_TIMEOUT_MS,
    });
    expect(code, output).toBe(0);
    expect(output).toContain('summary of this run:');
    expect(output).toContain('✓ the sales-report schedule fired on its own');
    expect(output).not.toContain('✗');
  },
  ONCE_TIMEOUT_MS + 10_000,
);

describe('npm start: the local demo, serving', () => {
  let demo: Server | undefined;
  /** `localhost:<port>`, for the README's localhost:3000. */
  let host = '';

  beforeAll(async () => {
    const starts = commandsOf('demo').map(asRun);
    expect(new Set(starts)).toEqual(new Set(['npm start']));
    const port = await freePort();
    host = `localhost:${port}`;
    demo = await startServer({
      command: ['bash', '-c', starts[0]!],
      cwd: root,
      env: environment({
        PORT: String(port),
        GTA_DEMO_DATA_DIR: await temporaryDirectory('gta-readme-demo-'),
        GTA_ADMIN_TOKEN: DEMO_ADMIN_TOKEN,
      }),
      // Printed once the server listens and the admin app is mounted.
      ready: /admin dashboard: http:\/\/127\.0\.0\.1:\d+\/admin \(token from GTA_ADMIN_TOKEN\)/,
      startupTimeoutMs: STARTUP_TIMEOUT_MS,
      stopTimeoutMs: STOP_TIMEOUT_MS,
    });
  }, STARTUP_TIMEOUT_MS + 30_000);
  afterAll(() => demo?.stop(), STOP_TIMEOUT_MS + 10_000);

  // Guarantee: the README's POST /orders, as written (no content-type), places the order and
  // answers 201 `{ order, taskIds }`: a loyalty order has three tasks.
  it("answers the local-node README's POST /orders with 201 { order, taskIds }", async () => {
    const [order, ...others] = commandsOf('orders');
    expect(others).toEqual([]);
    await answers(
      order!.text,
      {
        line: /^curl -X POST localhost:3000\/orders /,
        status: 201,
        body: {
          order: expect.objectContaining({
            id: expect.any(Number),
            email: 'grace@example.com',
            item: 'coffee',
            status: 'pending',
          }),
          taskIds: [expect.any(Number), expect.any(Number), expect.any(Number)],
        },
      },
      { from: 'localhost:3000', to: host },
    );
  });

  // Guarantee: docs/admin.md's lines, as written against the demo with $GTA_ADMIN_TOKEN set:
  // stats with the fields the doc lists, the failed tasks (the demo's book-shipments among them),
  // a rerun of one ($TASK_ID, from that list) that the runner then takes to succeeded, and a
  // trigger of the demo's schedule, awaited.
  it("answers docs/admin.md's curl lines as the doc says", async () => {
    const lines = commandsOf('admin').map(({ text }) => text);
    expect(lines).toHaveLength(4);
    const target = {
      from: 'localhost:3000',
      to: host,
      env: environment({ GTA_ADMIN_TOKEN: DEMO_ADMIN_TOKEN }),
    };
    const failedShipment = expect.objectContaining({ key: 'book-shipment', status: 'failed' });

    const stats = (await answers(
      lines[0]!,
      { line: /\/admin\/api\/stats /, status: 200, body: expect.any(Object) },
      target,
    )) as Record<string, unknown>;
    expect(Object.keys(stats).sort()).toEqual(
      [
        'byStatus',
        'byKey',
        'oldestInitializedAgeMs',
        'windowMinutes',
        'finished',
        'failureRate',
        'throughput',
      ].sort(),
    );

    // The demo's own scenario places the orders whose shipments fail: they show within seconds.
    const failed = (await answers(
      lines[1]!,
      {
        line: /\/admin\/api\/tasks\?status=failed&limit=10"/,
        status: 200,
        body: { tasks: expect.arrayContaining([failedShipment]), nextBeforeId: null },
        eventually: true,
      },
      target,
    )) as { tasks: { id: number; key: string; status: string }[] };
    expect(failed.tasks.every((task) => task.status === 'failed')).toBe(true);
    const shipment = failed.tasks.find((task) => task.key === 'book-shipment')!;

    await answers(
      lines[2]!,
      {
        line: /\/admin\/api\/tasks\/\$TASK_ID\/rerun /,
        status: 200,
        body: {
          task: expect.objectContaining({ id: shipment.id, key: 'book-shipment', status: 'initialized' }),
        },
      },
      { ...target, env: { ...target.env, TASK_ID: String(shipment.id) } },
    );
    // The local-node README: rerun, it succeeds, and its first error stays in lastError.
    await vi.waitFor(
      async () => {
        const response = await fetch(`http://${host}/admin/api/tasks/${shipment.id}`, {
          headers: { authorization: `Bearer ${DEMO_ADMIN_TOKEN}` },
        });
        expect(await response.json()).toEqual({
          task: expect.objectContaining({
            status: 'succeeded',
            lastError: expect.stringContaining('warehouse booking API offline'),
          }),
        });
      },
      { timeout: SETTLE_TIMEOUT_MS, interval: 250 },
    );

    await answers(
      lines[3]!,
      {
        line: /\/admin\/api\/schedules\/sales-report\/trigger /,
        status: 200,
        body: {
          task: expect.objectContaining({
            key: 'sales-report',
            scheduleId: 'sales-report',
            status: 'succeeded',
          }),
        },
      },
      target,
    );
  }, 60_000);
});

describe.skipIf(!hasPostgres)('npm run dev of the Cloudflare example, on a fresh database', () => {
  let postgres: TestDatabase | undefined;
  let worker: Server | undefined;
  /** `localhost:<port>`, for the README's localhost:8787. */
  let host = '';

  beforeAll(async () => {
    const [dev, ...others] = commandsOf('cloudflare dev');
    expect(others).toEqual([]);
    // A database of its own, so that the README's ids (team 1, task 1) are the ones it gets.
    postgres = await createPostgresDatabase();
    const port = await freePort();
    host = `localhost:${port}`;
    worker = await startServer({
      // wrangler takes its port from the command line only.
      command: ['bash', '-c', `${asRun(dev!)} -- --port ${port}`],
      cwd: root,
      env: environment({ DATABASE_URL: postgres.url! }),
      ready: /Ready on http:\/\/\S+/,
      startupTimeoutMs: STARTUP_TIMEOUT_MS,
      stopTimeoutMs: STOP_TIMEOUT_MS,
    });
  }, STARTUP_TIMEOUT_MS + 30_000);
  afterAll(async () => {
    await worker?.stop();
    await postgres?.close();
  }, STOP_TIMEOUT_MS + 30_000);

  // Guarantee: the README's lines, as written: setup migrates, the team is 1, its invitation
  // commits task 1, which starts after the response and succeeds (the mail logged, without
  // MAIL_API_URL), and `__scheduled` runs the cron trigger's tick.
  it("runs the README's curl lines as it says, and the invitation's task succeeds", async () => {
    expect(worker!.output(), 'the README lines use the printed local token').toContain(
      `GTA_ADMIN_TOKEN=${WORKER_ADMIN_TOKEN} (a local default`,
    );
    const lines = commandsOf('cloudflare').map(({ text }) => text);
    expect(lines).toHaveLength(4);
    const target = { from: 'localhost:8787', to: host };

    const setup = (await answers(
      lines[0]!,
      {
        line: /\/setup /,
        status: 200,
        body: { applied: expect.any(Array), version: expect.any(Number) },
      },
      target,
    )) as { applied: number[]; version: number };
    expect(setup.applied).toEqual(Array.from({ length: setup.version }, (_, index) => index + 1));

    await answers(lines[1]!, { line: /\/teams /, status: 201, body: { id: 1 } }, target);
    await answers(
      lines[2]!,
      {
        line: /\/teams\/1\/invitations /,
        status: 201,
        body: { invitations: [{ id: 1, email: 'ada@example.com', taskId: 1 }] },
      },
      target,
    );
    await answers(
      lines[3]!,
      { line: /\/__scheduled\?cron=/, status: 200, body: 'Ran scheduled event' },
      target,
    );

    await vi.waitFor(
      async () => {
        const response = await fetch(`http://${host}/admin/api/tasks/1`, {
          headers: { authorization: `Bearer ${WORKER_ADMIN_TOKEN}` },
        });
        expect(await response.json()).toEqual({
          task: expect.objectContaining({ key: 'send-invitation', status: 'succeeded', attempts: 1 }),
        });
        expect(worker!.output()).toContain('cron tick done');
      },
      { timeout: SETTLE_TIMEOUT_MS, interval: 250 },
    );
    expect(worker!.output()).toContain('MAIL_API_URL is not set: the invitation is only logged');
    const invitations = await postgres!.query<{ email: string; sent_at: Date | null }>(
      'select email, sent_at from invitations',
    );
    expect(invitations).toEqual([{ email: 'ada@example.com', sent_at: expect.any(Date) }]);
  }, 60_000);
});
