/**
 * A local stand-in for Inngest's event API: answers `POST /e/<key>` after a fixed delay with
 * what Inngest answers (`{"ids":[...],"status":200}`), and `POST /kick` (the drain kick the
 * receiver sends after a 202) at once. `GET /stats` counts what arrived.
 *
 * Run as its own process (startStandin) so its CPU is not charged to the process measured.
 */
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { announceReady, startChild, type Child } from './child.ts';

export interface StandinStats {
  requests: number;
  events: number;
  kicks: number;
  bad: number;
}

export function createStandinServer(delayMs: number): { server: Server; stats: StandinStats } {
  const stats: StandinStats = { requests: 0, events: 0, kicks: 0, bad: 0 };
  let sequence = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'GET' && path === '/stats') return json(200, stats);
      if (req.method === 'POST' && path === '/reset') {
        Object.assign(stats, { requests: 0, events: 0, kicks: 0, bad: 0 });
        return json(200, stats);
      }
      if (req.method === 'POST' && path === '/kick') {
        stats.kicks += 1;
        return json(202, { accepted: true });
      }
      if (req.method === 'POST' && path.startsWith('/e/')) {
        let events: unknown[];
        try {
          const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          events = Array.isArray(parsed) ? parsed : [parsed];
        } catch {
          stats.bad += 1;
          return json(400, { error: 'not JSON', status: 400 });
        }
        stats.requests += 1;
        stats.events += events.length;
        const ids = events.map(() => `standin-${++sequence}`);
        setTimeout(() => json(200, { ids, status: 200 }), delayMs);
        return;
      }
      json(404, { error: `no route ${req.method} ${path}` });
    });
  });
  server.keepAliveTimeout = 60_000;
  return { server, stats };
}

export interface Standin extends Child {
  stats(): Promise<StandinStats>;
  reset(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

export async function startStandin(delayMs: number): Promise<Standin> {
  const child = await startChild(SELF, { STANDIN_DELAY_MS: String(delayMs) });
  return {
    ...child,
    async stats() {
      return (await (await fetch(`${child.url}/stats`)).json()) as StandinStats;
    },
    async reset() {
      await (await fetch(`${child.url}/reset`, { method: 'POST' })).arrayBuffer();
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.send) {
  const { server } = createStandinServer(Number(process.env.STANDIN_DELAY_MS ?? 150));
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    announceReady(port, () => new Promise<void>((resolve) => server.close(() => resolve())));
  });
}
