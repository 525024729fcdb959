/**
 * One consumer process of the scale-out measurement: sets its system up, says `ready`, then
 * follows the lines the parent writes to its stdin:
 *
 * - `prepare <queue>`: sets the system's best drain consumer up on that shared queue, then says
 *   `prepared`;
 * - `go`: starts it;
 * - `stop`: stops it, waits until it has, and prints one JSON line (handlers run, its claims'
 *   sizes, the errors it raised or logged, its CPU time);
 * - `exit`: closes the system and ends the process.
 *
 * Usage: scale-out-child.ts <system> <database url> <postgres version> <concurrency>
 * @module
 */
import { createInterface } from 'node:readline';
import { createSystem } from './systems/index.js';
import { type Consumer, messageOf, type SystemName } from './systems/types.js';

const [name, url, postgresVersion, concurrency] = process.argv.slice(2) as [
  SystemName,
  string,
  string,
  string,
];

export interface ChildReport {
  done: number;
  claims: number;
  /** Claims that returned fewer tasks than they asked for. */
  short: number;
  /** Short claims after which this process still claimed more: rows were due while it came back short. */
  shortThenMore: number;
  errors: string[];
  cpuUs: number;
}

const system = await createSystem(name, url, { latencySamples: 0, pollingSamples: 0 }, postgresVersion);
await system.setup();
let consumer: Consumer | undefined;
let cpuAtStart = process.cpuUsage();
const failures: string[] = [];

function report(): ChildReport {
  const { claims } = system.log;
  let short = 0;
  let shortThenMore = 0;
  let laterGot = false;
  for (let index = claims.length - 1; index >= 0; index--) {
    const claim = claims[index]!;
    if (claim.got < claim.asked) {
      short++;
      if (laterGot) shortThenMore++;
    }
    if (claim.got > 0) laterGot = true;
  }
  const cpu = process.cpuUsage(cpuAtStart);
  return {
    done: consumer?.done ?? 0,
    claims: claims.length,
    short,
    shortThenMore,
    errors: [...failures, ...(consumer?.errors ?? [])],
    cpuUs: cpu.user + cpu.system,
  };
}

process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const [command, queue] = line.trim().split(' ');
  try {
    if (command === 'prepare') {
      failures.length = 0;
      consumer = await system.consume(queue!, Number(concurrency));
      process.stdout.write('prepared\n');
    } else if (command === 'go') {
      system.log.reset();
      system.log.recordClaims = true;
      cpuAtStart = process.cpuUsage();
      await consumer!.start();
    } else if (command === 'stop') {
      await consumer?.stop();
      process.stdout.write(`${JSON.stringify(report())}\n`);
      consumer = undefined;
    } else if (command === 'exit') {
      break;
    }
  } catch (error) {
    failures.push(messageOf(error));
    if (command === 'prepare') process.stdout.write('prepared\n');
    if (command === 'stop') process.stdout.write(`${JSON.stringify(report())}\n`);
  }
}
await system.close().catch(() => {});
// graphile-worker leaves a timer of its locked-job scan (8 to 10 minutes) behind after stop().
process.exit(0);
