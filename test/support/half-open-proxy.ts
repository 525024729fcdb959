/**
 * A TCP proxy on 127.0.0.1 in front of one Postgres server that can drop idle connections
 * silently, as a failover or a NAT timeout does: the server's side is cut and the client's side
 * stays open and hears nothing, so the client learns the connection is dead only when it next
 * sends, and its socket is then reset. That is how a test gets "BEGIN on a dead connection" on cue:
 * after `pg_terminate_backend` alone, the server's goodbye reaches an idle pooled client at once and
 * the pool discards it before anyone can send on it.
 * @example
 * const proxy = await startHalfOpenProxy(cluster.port);
 * const pool = new pg.Pool({ connectionString: proxy.urlFor('test') });
 * proxy.dropIdleSilently(); // the pool's idle clients still look healthy
 */
import { connect, createServer, type Socket } from 'node:net';

export interface HalfOpenProxy {
  port: number;
  /** A connection string to `database` through this proxy. */
  urlFor(database: string): string;
  /**
   * Cuts, at the server's side, every connection idle outside a transaction (the server's last
   * message was ReadyForQuery with status idle, and the client has sent nothing since); their
   * clients are reset when they next send. Busy connections are left alone: one cut mid-query
   * would wait for its answer forever. Returns how many were cut.
   */
  dropIdleSilently(): number;
  /** Stops listening and closes every connection, both sides. */
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  server: Socket;
  dropped: boolean;
  /** The last bytes the server sent, once the client has sent nothing since. */
  serverTail: Buffer;
}

/** ReadyForQuery ('Z', length 5) with transaction status idle ('I'). */
const READY_AND_IDLE = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

/** A proxy to the Postgres server listening on 127.0.0.1:`serverPort`. */
export async function startHalfOpenProxy(serverPort: number): Promise<HalfOpenProxy> {
  const links = new Set<Link>();
  const listener = createServer((client) => {
    const server = connect({ host: '127.0.0.1', port: serverPort });
    const link: Link = { client, server, dropped: false, serverTail: Buffer.alloc(0) };
    links.add(link);
    for (const socket of [client, server]) socket.setNoDelay(true);
    client.on('data', (chunk) => {
      link.serverTail = Buffer.alloc(0);
      if (link.dropped) client.resetAndDestroy();
      else server.write(chunk);
    });
    server.on('data', (chunk) => {
      link.serverTail = Buffer.concat([link.serverTail, chunk]).subarray(-READY_AND_IDLE.length);
      if (!link.dropped) client.write(chunk);
    });
    // Until a link is dropped, each side's end and errors reach the other, as without the proxy.
    server.on('end', () => link.dropped || client.end());
    server.on('error', () => link.dropped || client.destroy());
    client.on('end', () => server.end());
    client.on('error', () => server.destroy());
    client.on('close', () => {
      links.delete(link);
      server.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = listener.address() as { port: number };
  return {
    port,
    urlFor: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    dropIdleSilently() {
      let dropped = 0;
      for (const link of links) {
        if (link.dropped || !link.serverTail.equals(READY_AND_IDLE)) continue;
        link.dropped = true;
        link.server.destroy();
        dropped++;
      }
      return dropped;
    },
    async close() {
      const closed = new Promise((resolve) => listener.close(resolve));
      for (const link of links) {
        link.client.destroy();
        link.server.destroy();
      }
      await closed;
    },
  };
}
