// The one local stand-in for Inngest's event API, used by the tests, the reliability suite and the
// benchmarks. `POST /e/<key>` with a JSON array of events is answered `{"ids":[...],"status":200}`
// like Inngest; it can be made slow or answer an error status for a while, and it records every
// request (method, path, content type, body) and every event id with its content, so a test can
// assert the exact requests and prove that no id was ever sent twice with different content.
// `POST /kick` stands in for the drain a receiver kicks (counted, answered 202 at once);
// `GET /_standin/stats` and `POST /_standin/reset` serve a stand-in run in another process
// (bench/lib/inngest-standin.ts), and with `firstSeen` `GET /_standin/first-seen` says when the
// first event naming each delivery arrived (the benchmarks' delivery → event freshness).
import { createServer, type Server, type ServerResponse } from 'node:http';
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

export interface StandInRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  /** Every request header (lower-case names), to assert the exact request. */
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or the text when it was not JSON. */
  body: unknown;
}

export interface Conflict {
  id: string;
  first: string;
  second: string;
}

export interface StandInStats {
  /** Event API requests. */
  requests: number;
  refused: number;
  acceptedRequests: number;
  eventsReceived: number;
  /** Event API requests whose body was not a JSON array of events (answered 400). */
  bad: number;
  /** `POST /kick` requests. */
  kicks: number;
  inFlight: number;
  maxInFlight: number;
}

/** Decides per request: a status to refuse this batch of events with (a poison event), or null. */
export type Refusal = (events: Record<string, unknown>[]) => number | null;

export interface StandInOptions {
  /** HTTP status to answer event sends with instead of 200 (e.g. 500 for an outage). */
  failWith?: number | null;
  /** Refuses some batches only (Inngest refusing one event's content), whatever `failWith` says. */
  refuse?: Refusal | null;
  /** Delay before answering an event send, in ms (a slow Inngest). */
  delayMs?: number;
  /** Keep every request and event in memory (default); false only counts them (long benchmarks). */
  record?: boolean;
  /**
   * Keep, per delivery GUID in an event's `data.deliveryIds`, when the first accepted event naming it
   * arrived (performance.timeOrigin + performance.now(), ms since the epoch), even when not recording.
   */
  firstSeen?: boolean;
}

export interface InngestStandIn {
  url: string;
  /** HTTP status to answer with instead of 200, or null; may be changed while it runs. */
  failWith: number | null;
  refuse: Refusal | null;
  /** Delay before answering, in ms; may be changed while it runs. */
  delayMs: number;
  /** Every event API request, in arrival order. */
  requests: StandInRequest[];
  events: Map<string, RecordedEvent>;
  conflicts: Conflict[];
  stats: StandInStats;
  /** Ids accepted more than once (identical content: allowed, Inngest drops the repeat). */
  resentIdentical(): number;
  acceptedIds(): Set<string>;
  /** Delivery GUID → when the first event naming it arrived (with the `firstSeen` option). */
  firstSeen: Map<string, number>;
  /** Forgets every request, event and count. */
  reset(): void;
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

const emptyStats = (): StandInStats => ({ requests: 0, refused: 0, acceptedRequests: 0, eventsReceived: 0, bad: 0, kicks: 0, inFlight: 0, maxInFlight: 0 });

export async function startInngestStandIn(options: StandInOptions = {}): Promise<InngestStandIn> {
  const record = options.record ?? true;
  const sockets = new Set<Socket>();
  let sequence = 0;

  const state: InngestStandIn = {
    url: '',
    failWith: options.failWith ?? null,
    refuse: options.refuse ?? null,
    delayMs: options.delayMs ?? 0,
    requests: [],
    events: new Map(),
    conflicts: [],
    firstSeen: new Map(),
    stats: emptyStats(),
    resentIdentical: () => [...state.events.values()].filter((e) => e.accepted > 1).length,
    acceptedIds: () => new Set([...state.events.values()].filter((e) => e.accepted > 0).map((e) => e.id)),
    reset() {
      state.requests.length = 0;
      state.events.clear();
      state.conflicts.length = 0;
      state.firstSeen.clear();
      // In-flight requests still finish and decrement their count.
      state.stats = { ...emptyStats(), inFlight: state.stats.inFlight };
    },
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

  /** Records the batch when the request arrives: a real Inngest has the events even if the sender dies before reading the answer. */
  const recordBatch = (batch: Record<string, unknown>[], failWith: number | null, arrivedAt: number) => {
    const { stats, events, conflicts } = state;
    for (const event of batch) {
      stats.eventsReceived += 1;
      if (options.firstSeen && failWith === null) {
        const ids = (event.data as { deliveryIds?: unknown } | undefined)?.deliveryIds;
        if (Array.isArray(ids)) for (const id of ids) if (!state.firstSeen.has(String(id))) state.firstSeen.set(String(id), arrivedAt);
      }
      if (!record) continue;
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
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const arrivedAt = performance.timeOrigin + performance.now();
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (req.method === 'GET' && path === '/_standin/stats') return reply(res, 200, state.stats);
      if (req.method === 'GET' && path === '/_standin/first-seen') return reply(res, 200, Object.fromEntries(state.firstSeen));
      if (req.method === 'POST' && path === '/_standin/reset') {
        state.reset();
        return reply(res, 200, state.stats);
      }
      if (req.method === 'POST' && path === '/kick') {
        state.stats.kicks += 1;
        return reply(res, 202, { accepted: true });
      }
      if (req.method !== 'POST' || !path.startsWith('/e/')) return reply(res, 404, { error: `no route ${req.method} ${path}`, status: 404 });

      const { stats } = state;
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Kept as text.
      }
      if (record) state.requests.push({ method: req.method, path: req.url ?? path, contentType: req.headers['content-type'], headers: { ...req.headers }, body });
      stats.requests += 1;
      if (!Array.isArray(body)) {
        stats.bad += 1;
        return reply(res, 400, { error: 'the body must be a JSON array of events', status: 400 });
      }
      const failWith = state.refuse?.(body as Record<string, unknown>[]) ?? state.failWith;
      recordBatch(body as Record<string, unknown>[], failWith, arrivedAt);
      stats.inFlight += 1;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      const finish = () => {
        state.stats.inFlight -= 1;
        if (failWith !== null) {
          state.stats.refused += 1;
          reply(res, failWith, { error: failWith >= 500 ? 'stand-in outage' : 'stand-in refuses these events', status: failWith });
        } else {
          state.stats.acceptedRequests += 1;
          // Inngest answers with ids of its own, one per event.
          reply(res, 200, { ids: body.map(() => `standin-${++sequence}`), status: 200 });
        }
      };
      if (state.delayMs > 0) setTimeout(finish, state.delayMs);
      else finish();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  state.url = await listenLocal(server);
  return state;
}
