import type { AddressInfo, Server } from 'node:net';
import { createServer } from 'node:net';

/** Listens on a free loopback port; returns the server's base URL. */
export async function listenLocal(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port that was free a moment ago, for a child process to listen on. */
export async function freePort(): Promise<number> {
  const server = createServer();
  const port = Number(new URL(await listenLocal(server)).port);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
