/**
 * The WebSocket half of the local Neon proxy, doing what Neon's wsproxy does: each WebSocket the
 * Neon driver opens (`/v2?address=host:port`) carries one Postgres connection's bytes, both ways,
 * over a TCP socket to that address, which must be the one Postgres server the proxy allows.
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

export interface WebSocketTunnels {
  /** Takes an HTTP upgrade request; anything but `/v2` with the allowed address is refused. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Cuts every open tunnel, both ends, and resolves once their TCP sockets are closed. */
  close(): Promise<void>;
}

export interface WebSocketTunnelOptions {
  /**
   * Milliseconds added to each round trip: every message, and the end of either side, is passed on
   * half of it late, in order. @defaultValue 0
   */
  addedDelayMs?: number;
}

/** Tunnels to `allowedAddress` (`host:port`) only: the proxy must not reach anything else. */
export function webSocketTunnels(
  allowedAddress: string,
  { addedDelayMs = 0 }: WebSocketTunnelOptions = {},
): WebSocketTunnels {
  const server = new WebSocketServer({ noServer: true });
  // Timers of one duration fire in the order they were set, so a delayed stream keeps its order.
  const halfDelayMs = addedDelayMs / 2;
  const later =
    halfDelayMs > 0 ? (pass: () => void) => void setTimeout(pass, halfDelayMs) : (pass: () => void) => pass();
  const open = new Map<WebSocket, net.Socket>();
  const colon = allowedAddress.lastIndexOf(':');
  const host = allowedAddress.slice(0, colon);
  const port = Number(allowedAddress.slice(colon + 1));

  function tunnel(ws: WebSocket): void {
    const tcp = net.connect({ host, port });
    tcp.setNoDelay(true);
    open.set(ws, tcp);
    // Postgres messages arrive in whatever pieces TCP delivers; the driver reassembles them.
    ws.on('message', (data: Buffer) => later(() => tcp.write(data)));
    tcp.on('data', (chunk) => later(() => ws.send(chunk)));
    // The driver closing its WebSocket is its connection ending: let Postgres see the TCP end.
    ws.on('close', () => later(() => tcp.end()));
    ws.on('error', () => tcp.destroy());
    tcp.on('error', () => ws.terminate());
    tcp.on('close', () => {
      open.delete(ws);
      later(() => ws.close());
    });
  }

  return {
    upgrade(request, socket, head) {
      const url = new URL(request.url ?? '/', 'http://proxy');
      const address = url.searchParams.get('address');
      if (url.pathname !== '/v2' || address !== allowedAddress) {
        socket.end(
          `HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\nonly ${allowedAddress} is reachable\n`,
        );
        return;
      }
      server.handleUpgrade(request, socket, head, tunnel);
    },
    async close() {
      const closed = [...open.entries()].map(
        ([ws, tcp]) =>
          new Promise<void>((resolve) => {
            tcp.once('close', () => resolve());
            ws.terminate();
            tcp.destroy();
          }),
      );
      await Promise.all(closed);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
