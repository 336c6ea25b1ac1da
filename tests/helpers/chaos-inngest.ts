// A local Inngest event API for the reliability suite: answers `{"ids":[...],"status":200}` like
// Inngest, can be made slow or fail with HTTP 500 for a window, and records every event id with its
// content so a test can prove no id was ever sent twice with different content.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { listenLocal } from './net.ts';

export interface RecordedEvent {
  id: string;
  name: string;
  data: Record<string, unknown>;
  /** Canonical JSON of everything but the SDK's `ts`: what "same content" means. */
  content: string;
  /** Times this id arrived in a request that was answered 200. */
  accepted: number;
  /** Times it arrived in any request (refused ones too). */
  seen: number;
}

/** One request as it arrived: what a test asserts exactly (path, headers, body). */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface Conflict {
  id: string;
  first: string;
  second: string;
}

export interface InngestStandIn {
  url: string;
  /** HTTP status to answer with instead of 200 (e.g. 500 for an outage), or null. */
  failWith: number | null;
  /** Delay before answering, in ms (a slow Inngest). */
  delayMs: number;
  events: Map<string, RecordedEvent>;
  /** Every request, when started with `recordRequests` (off for the load runs: it grows). */
  requests: RecordedRequest[];
  conflicts: Conflict[];
  stats: { requests: number; refused: number; acceptedRequests: number; eventsReceived: number; inFlight: number; maxInFlight: number };
  /** Ids accepted more than once (identical content: allowed, Inngest drops the repeat). */
  resentIdentical(): number;
  acceptedIds(): Set<string>;
  close(): Promise<void>;
}

/** Stable JSON: object keys sorted, so equal content gives equal text. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export async function startInngestStandIn(
  options: { failWith?: number | null; delayMs?: number; recordRequests?: boolean } = {},
): Promise<InngestStandIn> {
  const events = new Map<string, RecordedEvent>();
  const requests: RecordedRequest[] = [];
  const conflicts: Conflict[] = [];
  const stats = { requests: 0, refused: 0, acceptedRequests: 0, eventsReceived: 0, inFlight: 0, maxInFlight: 0 };
  const sockets = new Set<Socket>();

  const state: InngestStandIn = {
    url: '',
    failWith: options.failWith ?? null,
    delayMs: options.delayMs ?? 0,
    events,
    requests,
    conflicts,
    stats,
    resentIdentical: () => [...events.values()].filter((e) => e.accepted > 1).length,
    acceptedIds: () => new Set([...events.values()].filter((e) => e.accepted > 0).map((e) => e.id)),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const reply = (res: ServerResponse, status: number, body: unknown) => {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      stats.requests += 1;
      stats.inFlight += 1;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      const failWith = state.failWith;
      const delay = state.delayMs;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = null;
      }
      if (options.recordRequests) requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const batch = Array.isArray(body) ? (body as Record<string, unknown>[]) : [];
      // Recorded when the request arrives: a real Inngest has the events even if the sender dies
      // before reading the answer (the SIGKILL test relies on that).
      for (const event of batch) {
        stats.eventsReceived += 1;
        const { ts: _ts, ...rest } = event;
        const id = String(event.id);
        const content = canonical(rest);
        const known = events.get(id);
        if (known) {
          known.seen += 1;
          if (known.content !== content) conflicts.push({ id, first: known.content, second: content });
          if (failWith === null) known.accepted += 1;
        } else {
          events.set(id, {
            id,
            name: String(event.name),
            data: (event.data ?? {}) as Record<string, unknown>,
            content,
            accepted: failWith === null ? 1 : 0,
            seen: 1,
          });
        }
      }
      const finish = () => {
        stats.inFlight -= 1;
        if (failWith !== null) {
          stats.refused += 1;
          reply(res, failWith, { error: 'stand-in outage', status: failWith });
        } else {
          stats.acceptedRequests += 1;
          reply(res, 200, { ids: batch.map((e) => String(e.id)), status: 200 });
        }
      };
      if (delay > 0) setTimeout(finish, delay);
      else finish();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  state.url = await listenLocal(server);
  return state;
}
