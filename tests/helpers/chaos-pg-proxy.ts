// A TCP proxy (node:net) between the stack and PostgreSQL that a test can cut and restore.
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface PgProxy {
  port: number;
  /** `url` with host and port replaced by the proxy's. */
  urlFor(url: string): string;
  /** Destroys every open connection and stops accepting new ones (connections are refused). */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  readonly isCut: boolean;
  stats: { accepted: number; destroyedByCut: number; cuts: number };
  close(): Promise<void>;
}

export async function startPgProxy(target: { host: string; port: number }): Promise<PgProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const stats = { accepted: 0, destroyedByCut: 0, cuts: 0 };
  let cut = false;
  let server: Server;
  let port = 0;

  const onConnection = (client: Socket) => {
    if (cut) {
      client.destroy();
      return;
    }
    stats.accepted += 1;
    const upstream = createConnection({ host: target.host, port: target.port });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const close = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const listen = async () => {
    server = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    port = (server.address() as AddressInfo).port;
  };
  await listen();

  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  return {
    get port() {
      return port;
    },
    get isCut() {
      return cut;
    },
    stats,
    urlFor(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    async cut() {
      cut = true;
      stats.cuts += 1;
      const closing = stopListening();
      for (const [client, upstream] of pairs) {
        stats.destroyedByCut += 1;
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await closing;
    },
    async restore() {
      cut = false;
      await listen();
    },
    async close() {
      cut = true;
      const closing = stopListening();
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await closing;
    },
  };
}
