/**
 * An HTTP endpoint on 127.0.0.1 that the workers' tasks call (the example's mail API, the
 * fixture's gate), so a test controls when a task's call returns and sees what arrived. While
 * holding, every request waits for `release()`; released, each is answered at once.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Arrival {
  path: string;
  idempotencyKey: string | null;
  body: string;
}

export interface Gate {
  url: string;
  /** Every request that arrived, in order. */
  readonly arrivals: Arrival[];
  /** Requests waiting for an answer now. */
  readonly held: number;
  /** The most requests held at once since the last reset. */
  readonly maxHeld: number;
  /** Requests whose caller went away before they were answered. */
  readonly abandoned: number;
  /** Holds every request from now on. */
  hold(): void;
  /** Answers the held requests, and every later one at once. */
  release(): void;
  /** Forgets the arrivals and counters, and holds or passes requests from now on. */
  reset(mode: 'hold' | 'pass'): void;
  close(): Promise<void>;
}

export async function startGate(): Promise<Gate> {
  const arrivals: Arrival[] = [];
  const held = new Set<http.ServerResponse>();
  let holding = true;
  let maxHeld = 0;
  let abandoned = 0;
  const answer = (response: http.ServerResponse) => {
    held.delete(response);
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":true}');
  };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const key = request.headers['idempotency-key'];
      arrivals.push({
        path: request.url ?? '',
        idempotencyKey: typeof key === 'string' ? key : null,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      if (!holding) return answer(response);
      held.add(response);
      maxHeld = Math.max(maxHeld, held.size);
      response.on('close', () => {
        if (held.delete(response)) abandoned++;
      });
    });
  });
  const release = () => {
    holding = false;
    for (const response of [...held]) answer(response);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    get held() {
      return held.size;
    },
    get maxHeld() {
      return maxHeld;
    },
    get abandoned() {
      return abandoned;
    },
    hold() {
      holding = true;
    },
    release,
    reset(mode) {
      arrivals.length = 0;
      maxHeld = held.size;
      abandoned = 0;
      if (mode === 'hold') holding = true;
      else release();
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
