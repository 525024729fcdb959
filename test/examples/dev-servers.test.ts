/**
 * The Vercel and Lambda examples' `npm run dev` as a new user meets it, with nothing set: it serves
 * the example's own handlers on a local port, and the curl lines of the README's "Run it locally"
 * section, run as written, do what the README says they do, on the embedded PGlite and, when it
 * answers, on a fresh database of the local Postgres. Without its variables a deployed handler
 * answers a 500 naming the one missing, and the dev script refuses a bad PORT or an unreachable
 * DATABASE_URL in one line. Each guarantee next to its test.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LambdaEvent } from 'hono/aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { httpEvent, lambdaContext, scheduledEvent } from '../../adapters/aws-lambda/test/support/lambda.js';
import {
  createPostgresDatabase,
  postgresAvailable,
  type TestDatabase,
} from '../../core/test/support/databases.js';
import { type CurlAnswer, curl, sleep, startServer } from '../support/servers.js';

const run = promisify(execFile);
const hasPostgres = await postgresAvailable();
const root = fileURLToPath(new URL('../..', import.meta.url));

// PGlite's first start takes seconds, many more while the machine's two cores are busy.
const STARTUP_TIMEOUT_MS = 120_000;
/** How long a README line may take to show work that goes on after its response. */
const SETTLE_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 20_000;
const README_HOST = 'localhost:3000';
const ADMIN_TOKEN = 'local-admin-token-0123456789';
const CRON_SECRET = 'local-cron-secret-0123456789';
/** The variables the examples read: a child starts without them, as on a fresh machine. */
const EXAMPLE_VARIABLES = ['DATABASE_URL', 'ADMIN_TOKEN', 'CRON_SECRET', 'PORT'];

function freshEnvironment(set: Record<string, string> = {}): NodeJS.ProcessEnv {
  const environment = { ...process.env };
  for (const name of EXAMPLE_VARIABLES) delete environment[name];
  return { ...environment, ...set };
}

interface DevServer {
  /** The address it printed, `http://127.0.0.1:<port>`. */
  url: string;
  output(): string;
  /** SIGTERM to its process group; true when it closed by itself within the bound. */
  stop(): Promise<boolean>;
}

/** `npm run dev` in the example's folder, on a free port, once it prints where it listens. */
async function startDev(example: string, set: Record<string, string>): Promise<DevServer> {
  const server = await startServer({
    command: ['npm', 'run', 'dev'],
    cwd: `${root}examples/${example}`,
    env: freshEnvironment({ ...set, PORT: '0' }),
    // The banner's last line: the lines before it are out too.
    ready: /^listening on (http:\/\/127\.0\.0\.1:\d+)[\s\S]*^the dashboard: /m,
    startupTimeoutMs: STARTUP_TIMEOUT_MS,
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
  return { url: server.ready[1]!, output: server.output, stop: server.stop };
}

/** The curl lines of the README's "Run it locally" section, in order. */
async function readmeCurlLines(example: string): Promise<string[]> {
  const readme = await readFile(`${root}examples/${example}/README.md`, 'utf8');
  const start = readme.indexOf('## Run it locally\n');
  if (start < 0) throw new Error(`examples/${example}/README.md has no "## Run it locally" section`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return section.split('\n').filter((line) => line.startsWith('curl '));
}

/** Runs a README line as written, against `url` instead of localhost:3000; its status and its JSON. */
function curlAt(line: string, url: string): Promise<CurlAnswer> {
  return curl(line, { from: README_HOST, to: url.slice('http://'.length) });
}

/** What one README line must answer; `eventually` for work that ends after the response. */
interface Step {
  line: RegExp;
  status: number;
  body: unknown;
  eventually?: boolean;
}

const welcomed = (status: string, attempts: number) =>
  expect.objectContaining({ id: 1, key: 'send-welcome', status, arg: { userId: 1 }, attempts });

/** The README's flow: the signup enqueues task 1, it succeeds, a rerun sends it back, the tick runs it. */
const FLOWS: Record<string, Step[]> = {
  vercel: [
    { line: /^curl -X POST \S+\/api\/signup /, status: 201, body: { id: 1 } },
    // The welcome runs through waitUntil, after the response.
    {
      line: /\/api\/admin\/api\/tasks\?key=send-welcome/,
      status: 200,
      body: { tasks: [welcomed('succeeded', 1)], nextBeforeId: null },
      eventually: true,
    },
    { line: /\/api\/admin\/api\/tasks\/1\/rerun /, status: 200, body: { task: welcomed('initialized', 0) } },
    { line: /\/api\/cron /, status: 200, body: expect.objectContaining({ claimed: 1, failed: 0 }) },
    // The cron route hands the task it claimed to waitUntil as it answers.
    {
      line: /\/api\/admin\/api\/tasks\/1 /,
      status: 200,
      body: { task: welcomed('succeeded', 1) },
      eventually: true,
    },
  ],
  'aws-lambda': [
    { line: /^curl -X POST \S+\/signup /, status: 201, body: { id: 1 } },
    // The invocation awaited the welcome before it answered: no waiting here.
    {
      line: /\/admin\/api\/tasks\?key=send-welcome/,
      status: 200,
      body: { tasks: [welcomed('succeeded', 1)], nextBeforeId: null },
    },
    { line: /\/admin\/api\/tasks\/1\/rerun /, status: 200, body: { task: welcomed('initialized', 0) } },
    {
      line: /-X POST \S+\/__tick$/,
      status: 200,
      body: expect.objectContaining({ claimed: 1, succeeded: 1, failed: 0 }),
    },
    { line: /\/admin\/api\/tasks\/1 /, status: 200, body: { task: welcomed('succeeded', 1) } },
  ],
};

/** The routes that must refuse a request without credentials, so that the local defaults are what let the README in. */
const GUARDED: Record<string, string[]> = {
  vercel: ['/api/cron', '/api/admin/api/stats'],
  'aws-lambda': ['/admin/api/stats'],
};

const cases = ['vercel', 'aws-lambda'].flatMap((example) => [
  { example, database: 'pglite' },
  { example, database: 'postgres' },
]);

describe.each(cases)('examples/$example: npm run dev on $database', ({ example, database }) => {
  const skip = database === 'postgres' && !hasPostgres;
  let postgres: TestDatabase | undefined;
  let server: DevServer | undefined;

  beforeAll(async () => {
    if (skip) return;
    postgres = database === 'postgres' ? await createPostgresDatabase() : undefined;
    server = await startDev(example, postgres ? { DATABASE_URL: postgres.url! } : {});
  }, STARTUP_TIMEOUT_MS + 30_000);
  afterAll(async () => {
    await server?.stop();
    await postgres?.close();
  }, STOP_TIMEOUT_MS + 30_000);

  // Guarantee: with nothing set it starts, says which database it uses, and prints the local
  // token the README's curl lines use.
  it.skipIf(skip)('starts with nothing set and prints its database and local token', () => {
    const output = server!.output();
    expect(output).toContain(
      database === 'pglite' ? 'database: PGlite in memory' : 'database: the Postgres at DATABASE_URL',
    );
    expect(output).toContain(`ADMIN_TOKEN=${ADMIN_TOKEN} (a local default`);
    if (example === 'vercel') expect(output).toContain(`CRON_SECRET=${CRON_SECRET} (a local default`);
  });

  // Guarantee: the README's curl lines, as written, enqueue at signup, show the task succeeded,
  // send it back with a rerun, and run it again from the cron route or tick.
  it.skipIf(skip)(
    "runs the README's curl lines as it says",
    async () => {
      const lines = await readmeCurlLines(example);
      const steps = FLOWS[example]!;
      expect(lines).toHaveLength(steps.length);
      for (const [index, step] of steps.entries()) {
        const line = lines[index]!;
        expect(line).toMatch(step.line);
        const deadline = Date.now() + (step.eventually ? SETTLE_TIMEOUT_MS : 0);
        let answer = await curlAt(line, server!.url);
        while (step.eventually && Date.now() < deadline && !matches(answer, step)) {
          await sleep(200);
          answer = await curlAt(line, server!.url);
        }
        expect(answer, line).toEqual({ status: step.status, body: step.body });
      }
      // The post-commit work went to the platform's lifetime (Vercel's request context, the Lambda
      // invocation), not on in the process without one, which the adapters warn about.
      expect(server!.output()).not.toMatch(/no (Vercel request context|Lambda invocation in progress)/);
      if (postgres) {
        // The signup wrote to the database at DATABASE_URL, and the task's write was seen there.
        const users = await postgres.query<{ email: string; welcomed_at: Date | null }>(
          'select email, welcomed_at from users',
        );
        expect(users).toEqual([{ email: 'ada@example.com', welcomed_at: expect.any(Date) }]);
      }
    },
    60_000,
  );

  it.skipIf(skip)('refuses the guarded routes without the local credentials', async () => {
    for (const path of GUARDED[example]!) {
      const response = await fetch(`${server!.url}${path}`);
      expect(response.status, path).toBe(401);
    }
  });

  // Guarantee: a stop lets the work in progress end, closes the database and exits.
  it.skipIf(skip)(
    'stops on SIGTERM by itself',
    async () => {
      expect(await server!.stop()).toBe(true);
      expect(server!.output()).toMatch(/^stopped$/m);
    },
    STOP_TIMEOUT_MS + 10_000,
  );
});

function matches(answer: CurlAnswer, step: Step): boolean {
  try {
    expect(answer).toEqual({ status: step.status, body: step.body });
    return true;
  } catch {
    return false;
  }
}

describe.each(['vercel', 'aws-lambda'])('examples/%s: npm run dev refuses in one line', (example) => {
  async function dev(set: Record<string, string>) {
    try {
      const { stdout, stderr } = await run('npx', ['tsx', 'scripts/dev.ts'], {
        cwd: `${root}examples/${example}`,
        env: freshEnvironment(set),
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }

  it('a PORT that is not a port number', async () => {
    const result = await dev({ PORT: 'http' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'PORT is not a port number: run `PORT=3000 npm run dev` (got http)',
    ]);
  }, 60_000);

  it('a DATABASE_URL that refuses the connection', async () => {
    const result = await dev({ PORT: '0', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual(['migrate failed: connect ECONNREFUSED 127.0.0.1:1']);
  }, 60_000);
});

/**
 * The deployed handlers, imported as the platform loads them but with none of their variables
 * set: each answers 500 with the line naming the first one missing, and logs that line.
 */
describe('the deployed handlers without their variables', () => {
  const saved = { ...process.env };
  let logged: ReturnType<typeof vi.spyOn>;

  beforeAll(() => {
    for (const name of EXAMPLE_VARIABLES) delete process.env[name];
    logged = vi.spyOn(console, 'error').mockImplementation(() => {});
  });
  afterAll(() => {
    logged.mockRestore();
    process.env = saved;
  });

  async function refusal(response: Response | Promise<Response>) {
    const answered = await response;
    return { status: answered.status, body: await answered.json() };
  }
  const vercelHint = (name: string) =>
    `set it in the project's environment variables (\`vercel env add ${name}\`) and redeploy`;

  it('examples/vercel: each function names what it misses', async () => {
    const signup = await import('../../examples/vercel/api/signup.js');
    const cron = await import('../../examples/vercel/api/cron.js');
    const admin = await import('../../examples/vercel/api/admin.js');
    const base = 'https://gta-example.vercel.app';

    const signedUp = signup.POST(
      new Request(`${base}/api/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'ada@example.com' }),
      }),
    );
    const databaseMissing = `DATABASE_URL is not set: ${vercelHint('DATABASE_URL')}`;
    expect(await refusal(signedUp)).toEqual({ status: 500, body: { error: databaseMissing } });
    expect(logged).toHaveBeenLastCalledWith(databaseMissing);

    expect(await refusal(cron.GET(new Request(`${base}/api/cron`)))).toEqual({
      status: 500,
      body: { error: `CRON_SECRET is not set: ${vercelHint('CRON_SECRET')}` },
    });

    const stats = () => admin.GET(new Request(`${base}/api/admin/api/stats`));
    expect(await refusal(stats())).toEqual({
      status: 500,
      body: { error: `ADMIN_TOKEN is not set: ${vercelHint('ADMIN_TOKEN')}` },
    });
    process.env.ADMIN_TOKEN = 'too-short';
    expect(await refusal(stats())).toEqual({
      status: 500,
      body: { error: `ADMIN_TOKEN is shorter than 16 characters: ${vercelHint('ADMIN_TOKEN')}` },
    });
    process.env.ADMIN_TOKEN = ADMIN_TOKEN;
    expect(await refusal(stats())).toEqual({ status: 500, body: { error: databaseMissing } });
    delete process.env.ADMIN_TOKEN;
  });

  it('examples/aws-lambda: an HTTP request or a scheduled event names what it misses', async () => {
    const { handler } = await import('../../examples/aws-lambda/src/handler.js');
    const samHint = (parameter: string) =>
      `give \`sam deploy\` the ${parameter} parameter (template.yaml passes it to the function)`;
    const databaseMissing = `DATABASE_URL is not set: ${samHint('DatabaseUrl')}`;
    // Hono declares API Gateway's event more strictly than API Gateway sends it.
    const invoke = async (event: ReturnType<typeof httpEvent>) => {
      const result = (await handler(event as unknown as LambdaEvent, lambdaContext(30_000))) as {
        statusCode: number;
        body: string;
      };
      return { status: result.statusCode, body: JSON.parse(result.body) as unknown };
    };

    expect(await invoke(httpEvent('POST', '/signup', { email: 'ada@example.com' }))).toEqual({
      status: 500,
      body: { error: databaseMissing },
    });
    expect(await invoke(httpEvent('GET', '/admin/api/stats'))).toEqual({
      status: 500,
      body: { error: `ADMIN_TOKEN is not set: ${samHint('AdminToken')}` },
    });
    expect(await handler(scheduledEvent(), lambdaContext(60_000))).toEqual({ error: databaseMissing });
    expect(logged).toHaveBeenLastCalledWith(databaseMissing);
  });
});
