/**
 * Servers a test starts as a user would (`npm start`, `npm run dev`), and README lines run against
 * them. Each server runs in its own process group, so that a stop reaches npm, tsx and whatever
 * they started under them; a README's curl line runs through `bash -c` as written, with only its
 * host and port swapped for the server's.
 * @example
 * const port = await freePort();
 * const server = await startServer({
 *   command: ['npm', 'run', 'dev'],
 *   cwd,
 *   env: { ...process.env, PORT: String(port) },
 *   ready: /^listening on /m,
 *   startupTimeoutMs: 120_000,
 *   stopTimeoutMs: 20_000,
 * });
 * const { status, body } = await curl(line, { from: 'localhost:3000', to: `localhost:${port}` });
 * await server.stop();
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** How long one README curl line may take. */
const CURL_TIMEOUT_MS = 30_000;

export interface ServerOptions {
  /** The program and its arguments, spawned without a shell unless the program is one. */
  command: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Matched against everything the server printed (stdout and stderr together) until it matches. */
  ready: RegExp;
  startupTimeoutMs: number;
  /** How long a stop waits after SIGTERM before it sends SIGKILL. */
  stopTimeoutMs: number;
}

export interface Server {
  /** The match of `ready`, so that its groups can carry what the server printed (its address). */
  ready: RegExpExecArray;
  output(): string;
  /** SIGTERM to its process group; true when it closed by itself within the bound. */
  stop(): Promise<boolean>;
}

/** Starts `command` in its own process group and resolves once its output matches `ready`. */
export async function startServer(options: ServerOptions): Promise<Server> {
  const [program, ...args] = options.command;
  const child: ChildProcess = spawn(program!, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let closed = false;
  const close = new Promise<void>((resolve) =>
    child.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // The whole group has exited already.
    }
  };
  const stop = async () => {
    if (closed) return true;
    signal('SIGTERM');
    const graceful = await Promise.race([
      close.then(() => true),
      sleep(options.stopTimeoutMs).then(() => false),
    ]);
    if (!graceful) {
      signal('SIGKILL');
      await close;
    }
    return graceful;
  };
  const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not ready after ${options.startupTimeoutMs} ms:\n${output}`)),
      options.startupTimeoutMs,
    );
    const collect = (chunk: Buffer) => {
      output += chunk;
      const match = options.ready.exec(output);
      if (!match) return;
      clearTimeout(timer);
      resolve(match);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    void close.then(() => {
      clearTimeout(timer);
      reject(new Error(`${options.command.join(' ')} exited before it was ready:\n${output}`));
    });
  }).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  return { ready, output: () => output, stop };
}

export interface CurlAnswer {
  status: number;
  /** The body parsed as JSON, or its text when it is not JSON. */
  body: unknown;
}

/**
 * Runs a README's curl line through `bash -c` as written, with `from` (the README's `host:port`)
 * replaced by `to`, and `env` as its environment (for the variables the line names).
 */
export async function curl(
  line: string,
  { from, to, env = process.env }: { from: string; to: string; env?: NodeJS.ProcessEnv },
): Promise<CurlAnswer> {
  const command = `${line.replaceAll(from, to)} -sS -w '\\n%{http_code}'`;
  const { stdout } = await run('bash', ['-c', command], { env, timeout: CURL_TIMEOUT_MS });
  const cut = stdout.lastIndexOf('\n');
  const text = stdout.slice(0, cut);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: compared as text.
  }
  return { status: Number(stdout.slice(cut + 1)), body };
}

/** A port nothing listens on right now: the OS picks one, and it is released for the server. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
