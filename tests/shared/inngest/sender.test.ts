import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import pkg from '../../../package.json' with { type: 'json' };
import { createEventApiSender } from '../../../src/shared/inngest/event-api-sender.ts';
import type { OutgoingEvent } from '../../../src/shared/inngest/events.ts';
import { createInngestSender } from '../../../src/shared/inngest/sdk-sender.ts';
import { InngestSendError, createRecordingSender, type InngestSenderOptions } from '../../../src/shared/inngest/sender.ts';

const BASE = 'http://inngest.test';

type Captured = { method: string; url: string; headers: Record<string, string>; body: unknown };

const SDK_AGENT = `inngest-js:v${pkg.dependencies.inngest}`;

/**
 * Both senders, held to the same tests: the SDK (Node) and the Event API over fetch (the Edge
 * Function). Only the headers differ; `headers` checks them exactly.
 */
const SENDERS = [
  {
    sender: 'the SDK sender',
    create: createInngestSender,
    factory: 'createInngestSender',
    // The SDK does not tell a refusal from an outage: it tries 5 times either way.
    attemptsOnRefusal: 5,
    headers(headers: Record<string, string>) {
      const { 'x-inngest-event-id-seed': seed, ...rest } = headers;
      expect(rest).toEqual({
        'content-type': 'application/json',
        'user-agent': SDK_AGENT,
        'x-inngest-sdk': SDK_AGENT,
        'x-inngest-sdk-handled': 'true',
      });
      // `<ms>,<base64 entropy>`: lets Inngest derive the same internal ids when the SDK retries.
      expect(seed).toMatch(/^\d{13},[A-Za-z0-9+/]+=*$/);
    },
  },
  {
    sender: 'the Event API sender',
    create: createEventApiSender,
    factory: 'createEventApiSender',
    // A 4xx other than 408/429 answers the same again: one attempt.
    attemptsOnRefusal: 1,
    headers(headers: Record<string, string>) {
      expect(headers).toEqual({
        'content-type': 'application/json',
        'user-agent': 'webhook-router (Inngest Event API)',
      });
    },
  },
] satisfies { sender: string; create: (opts: InngestSenderOptions) => unknown; factory: string; attemptsOnRefusal: number; headers: unknown }[];

const server = setupServer();
let captured: Captured[] = [];

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  server.resetHandlers();
  captured = [];
  vi.unstubAllEnvs();
  vi.useRealTimers();
});
afterAll(() => server.close());

/** Catch-all stand-in: every request is recorded, whatever its URL, so a wrong path shows up in assertions. */
function standIn(answer: (body: OutgoingEvent[]) => Response = okAnswer): void {
  server.use(
    http.all('*', async ({ request }) => {
      const body = (await request.json()) as OutgoingEvent[];
      captured.push({
        method: request.method,
        url: request.url,
        headers: Object.fromEntries(request.headers),
        body,
      });
      return answer(body);
    }),
  );
}

// Inngest's event API answers like this; both senders reject a 2xx without `status: 200`.
function okAnswer(body: OutgoingEvent[]): Response {
  return HttpResponse.json({ ids: body.map((_, i) => `internal-${i}`), status: 200 });
}

function makeEvents(count: number, prefix = 'evt'): OutgoingEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    name: i % 2 === 0 ? 'workspace.repository.changed' : 'workspace.metrics.aggregate',
    id: `${prefix}-${i}`,
    data: { workspaceId: `ws-${i}`, repositoryId: i },
  }));
}

function bodyOf(request: Captured): Record<string, unknown>[] {
  expect(Array.isArray(request.body)).toBe(true);
  return request.body as Record<string, unknown>[];
}

/** The InngestSendError a send ends with (fails the test if it ends otherwise). */
async function sendError(sending: Promise<void>): Promise<InngestSendError> {
  const error = await sending.then(() => undefined, (err: unknown) => err);
  expect(error).toBeInstanceOf(InngestSendError);
  return error as InngestSendError;
}

describe.each(SENDERS)('$sender', ({ create, factory, headers, attemptsOnRefusal }) => {
  describe('request shape', () => {
    it('POSTs a JSON array of the events to {base}/e/{key}', async () => {
      standIn();
      const events: OutgoingEvent[] = [
        { name: 'workspace.repository.changed', id: 'a-1', data: { workspaceId: 'w1', repositoryId: 42 } },
        { name: 'workspace.metrics.aggregate', id: 'b-2', data: { workspaceId: 'w2', nested: { ok: true } } },
      ];
      await create({ eventKey: 'test-key', baseUrl: BASE }).send(events);

      expect(captured).toHaveLength(1);
      const [request] = captured as [Captured];
      expect(request.method).toBe('POST');
      expect(request.url).toBe(`${BASE}/e/test-key`);
      headers(request.headers);
      const body = bodyOf(request);
      expect(body.map(({ name, id, data }) => ({ name, id, data }))).toEqual(events);
      // Each event gets a send time (as the SDK stamps it) and nothing else.
      for (const event of body) {
        expect(Object.keys(event).sort()).toEqual(['data', 'id', 'name', 'ts']);
        expect(typeof event.ts).toBe('number');
      }
    });

    it('appends /e/{key} to a base URL that has a path, with or without trailing slash', async () => {
      standIn();
      await create({ eventKey: 'k', baseUrl: `${BASE}/stand-in` }).send(makeEvents(1));
      await create({ eventKey: 'k', baseUrl: `${BASE}/stand-in/` }).send(makeEvents(1));
      expect(captured.map((r) => r.url)).toEqual([`${BASE}/stand-in/e/k`, `${BASE}/stand-in/e/k`]);
    });

    it('keeps a key with URL-special characters inside the one path segment', async () => {
      standIn();
      await create({ eventKey: 'a/b?c#d', baseUrl: BASE }).send(makeEvents(1));
      expect(captured.map((r) => new URL(r.url).pathname)).toEqual(['/e/a%2Fb%3Fc%23d']);
    });

    it('uses the explicit key and base URL even when INNGEST_* env vars say otherwise', async () => {
      vi.stubEnv('INNGEST_EVENT_KEY', 'env-key');
      vi.stubEnv('INNGEST_BASE_URL', 'http://env-base.test');
      vi.stubEnv('INNGEST_EVENT_API_BASE_URL', 'http://env-event-api.test');
      vi.stubEnv('INNGEST_DEV', '1');
      standIn();
      await create({ eventKey: 'test-key', baseUrl: BASE }).send(makeEvents(1));
      await create({ eventKey: 'test-key' }).send(makeEvents(1));
      expect(captured.map((r) => r.url)).toEqual([`${BASE}/e/test-key`, 'https://inn.gs/e/test-key']);
    });

    it('sends nothing for an empty list', async () => {
      standIn();
      await create({ eventKey: 'k', baseUrl: BASE }).send([]);
      expect(captured).toHaveLength(0);
    });

    it('goes through the fetch it was given', async () => {
      const calls: string[] = [];
      const fetchSpy: typeof fetch = async (input) => {
        calls.push(String(input));
        return Response.json({ ids: ['x'], status: 200 });
      };
      await create({ eventKey: 'k', baseUrl: BASE, fetch: fetchSpy }).send(makeEvents(1));
      expect(calls).toEqual([`${BASE}/e/k`]);
    });

    it('rejects a missing key or an out-of-range batch size up front, naming itself', () => {
      expect(() => create({ eventKey: '' })).toThrow(factory);
      expect(() => create({ eventKey: '' })).toThrow(TypeError);
      expect(() => create({ eventKey: 'k', batchSize: 0 })).toThrow(RangeError);
      expect(() => create({ eventKey: 'k', batchSize: 5001 })).toThrow(RangeError);
      expect(() => create({ eventKey: 'k', batchSize: 1.5 })).toThrow(RangeError);
    });
  });

  describe('batching', () => {
    it('splits 250 events into 100 + 100 + 50, in order', async () => {
      standIn();
      const events = makeEvents(250);
      await create({ eventKey: 'k', baseUrl: BASE }).send(events);
      expect(captured.map((r) => bodyOf(r).length)).toEqual([100, 100, 50]);
      expect(captured.flatMap((r) => bodyOf(r).map((e) => e.id))).toEqual(events.map((e) => e.id));
    });

    it('honours a custom batch size', async () => {
      standIn();
      await create({ eventKey: 'k', baseUrl: BASE, batchSize: 40 }).send(makeEvents(250));
      expect(captured.map((r) => bodyOf(r).length)).toEqual([40, 40, 40, 40, 40, 40, 10]);
    });

    it('also splits by size so each request body stays within 256 KiB', async () => {
      standIn();
      const events = makeEvents(5).map((e) => ({ ...e, data: { ...e.data, blob: 'x'.repeat(100 * 1024) } }));
      await create({ eventKey: 'k', baseUrl: BASE }).send(events);
      expect(captured.map((r) => bodyOf(r).length)).toEqual([2, 2, 1]);
      for (const request of captured) {
        expect(new TextEncoder().encode(JSON.stringify(request.body)).byteLength).toBeLessThanOrEqual(256 * 1024);
      }
    });

    it('refuses an event too large for any request, without sending anything', async () => {
      standIn();
      const [event] = makeEvents(1) as [OutgoingEvent];
      const huge = { ...event, data: { blob: 'x'.repeat(300 * 1024) } };
      await expect(
        create({ eventKey: 'k', baseUrl: BASE }).send([...makeEvents(3), huge]),
      ).rejects.toThrow(RangeError);
      expect(captured).toHaveLength(0);
    });
  });

  describe('failures', () => {
    it('throws InngestSendError with status 500 after 5 attempts, and stops before later batches', async () => {
      standIn(() => HttpResponse.json({ error: 'boom' }, { status: 500 }));
      const started = Date.now();
      const error = await sendError(create({ eventKey: 'k', baseUrl: BASE }).send(makeEvents(150)));
      const elapsed = Date.now() - started;

      expect(error.name).toBe('InngestSendError');
      expect(error.status).toBe(500);
      expect(error.attempts).toBe(5);
      expect(error.message).toContain('500');
      // All 5 requests retry the first batch; the second batch is never sent.
      expect(captured).toHaveLength(5);
      for (const request of captured) expect(bodyOf(request)[0]?.id).toBe('evt-0');
      // Backoff is 100·2^(n-1) ms + up to 100 ms jitter: 1.5–1.9 s in total.
      expect(elapsed).toBeGreaterThanOrEqual(1_500);
      expect(elapsed).toBeLessThan(5_000);
    });

    it.each([400, 401, 413, 422])('reports a refusal (%i) with its status, after as many attempts as the transport makes', async (status) => {
      standIn(() => new HttpResponse('nope', { status }));
      const error = await sendError(create({ eventKey: 'k', baseUrl: BASE }).send(makeEvents(1)));
      expect(error.status).toBe(status);
      expect(error.attempts).toBe(attemptsOnRefusal);
      expect(captured).toHaveLength(attemptsOnRefusal);
    });

    it('retries a rate limit (429)', async () => {
      standIn(() => new HttpResponse('slow down', { status: 429 }));
      const error = await sendError(create({ eventKey: 'k', baseUrl: BASE }).send(makeEvents(1)));
      expect(error.status).toBe(429);
      expect(error.attempts).toBe(5);
    });

    it('rejects a 2xx answer without `status: 200` in the body (what a stand-in must return)', async () => {
      standIn(() => HttpResponse.json({ ids: [] }));
      const error = await sendError(create({ eventKey: 'k', baseUrl: BASE }).send(makeEvents(1)));
      expect(error.status).toBeUndefined();
      expect(error.attempts).toBe(5);
    });

    it('reports network errors without a status', async () => {
      server.use(http.all('*', () => HttpResponse.error()));
      const error = await sendError(create({ eventKey: 'k', baseUrl: BASE }).send(makeEvents(1)));
      expect(error.status).toBeUndefined();
      expect(error.attempts).toBe(5);
    });

    it('attributes status and attempts to the right send when sends run concurrently', async () => {
      let okRequests = 0;
      server.use(
        http.all('*', async ({ request }) => {
          const body = (await request.json()) as OutgoingEvent[];
          if (body[0]?.id === 'bad-0') return new HttpResponse(null, { status: 503 });
          okRequests += 1;
          return okAnswer(body);
        }),
      );
      const sender = create({ eventKey: 'k', baseUrl: BASE });
      const [bad, good] = await Promise.allSettled([
        sender.send(makeEvents(1, 'bad')),
        sender.send(makeEvents(1, 'good')),
      ]);
      expect(good.status).toBe('fulfilled');
      expect(okRequests).toBe(1);
      expect(bad.status).toBe('rejected');
      const reason = (bad as PromiseRejectedResult).reason as InngestSendError;
      expect(reason).toBeInstanceOf(InngestSendError);
      expect(reason.status).toBe(503);
      expect(reason.attempts).toBe(5);
    });

    it('gives up on a stand-in that never answers (5 s per attempt, 5 attempts)', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      let calls = 0;
      const hangingFetch: typeof fetch = (_input, init) =>
        new Promise<Response>((_resolve, reject) => {
          calls += 1;
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        });
      const outcome = sendError(create({ eventKey: 'k', baseUrl: BASE, fetch: hangingFetch }).send(makeEvents(1)));
      await vi.advanceTimersByTimeAsync(5 * 5_000 + 2_000);
      const error = await outcome;
      expect(error.status).toBeUndefined();
      expect(error.attempts).toBe(5);
      expect(error.message).toContain('no answer from Inngest within 5000 ms');
      expect(calls).toBe(5);
    });
  });
});

describe('createRecordingSender', () => {
  it('keeps copies of what was sent, in order', async () => {
    const sender = createRecordingSender();
    const events = makeEvents(3);
    await sender.send(events.slice(0, 2));
    await sender.send(events.slice(2));
    expect(sender.sent).toEqual(events);
    (events[0] as OutgoingEvent).data.workspaceId = 'mutated';
    expect(sender.sent[0]?.data.workspaceId).toBe('ws-0');
  });

  it('refuses oversized events like the real sender', async () => {
    const sender = createRecordingSender();
    await expect(
      sender.send([{ name: 'workspace.repository.changed', id: 'x', data: { blob: 'x'.repeat(300 * 1024) } }]),
    ).rejects.toThrow(RangeError);
    expect(sender.sent).toHaveLength(0);
  });
});
