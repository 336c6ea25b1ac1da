import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { OutgoingEvent } from '../../../src/shared/inngest/events.ts';
import {
  InngestSendError,
  createInngestSender,
  createRecordingSender,
} from '../../../src/shared/inngest/sender.ts';

const BASE = 'http://inngest.test';

type Captured = { method: string; url: string; contentType: string | null; body: unknown };

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
        contentType: request.headers.get('content-type'),
        body,
      });
      return answer(body);
    }),
  );
}

// Inngest's event API answers like this; the SDK rejects a 2xx without `status: 200`.
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

describe('createInngestSender: request shape', () => {
  it('POSTs a JSON array of the events to {base}/e/{key}', async () => {
    standIn();
    const events: OutgoingEvent[] = [
      { name: 'workspace.repository.changed', id: 'a-1', data: { workspaceId: 'w1', repositoryId: 42 } },
      { name: 'workspace.metrics.aggregate', id: 'b-2', data: { workspaceId: 'w2', nested: { ok: true } } },
    ];
    await createInngestSender({ eventKey: 'test-key', baseUrl: BASE }).send(events);

    expect(captured).toHaveLength(1);
    const [request] = captured as [Captured];
    expect(request.method).toBe('POST');
    expect(request.url).toBe(`${BASE}/e/test-key`);
    expect(request.contentType).toBe('application/json');
    const body = bodyOf(request);
    expect(body.map(({ name, id, data }) => ({ name, id, data }))).toEqual(events);
    // The SDK stamps a send time on each event and adds nothing else.
    for (const event of body) {
      expect(Object.keys(event).sort()).toEqual(['data', 'id', 'name', 'ts']);
      expect(typeof event.ts).toBe('number');
    }
  });

  it('appends /e/{key} to a base URL that has a path, with or without trailing slash', async () => {
    standIn();
    await createInngestSender({ eventKey: 'k', baseUrl: `${BASE}/stand-in` }).send(makeEvents(1));
    await createInngestSender({ eventKey: 'k', baseUrl: `${BASE}/stand-in/` }).send(makeEvents(1));
    expect(captured.map((r) => r.url)).toEqual([`${BASE}/stand-in/e/k`, `${BASE}/stand-in/e/k`]);
  });

  it('keeps a key with URL-special characters inside the one path segment', async () => {
    standIn();
    await createInngestSender({ eventKey: 'a/b?c#d', baseUrl: BASE }).send(makeEvents(1));
    expect(captured.map((r) => new URL(r.url).pathname)).toEqual(['/e/a%2Fb%3Fc%23d']);
  });

  it('uses the explicit key and base URL even when INNGEST_* env vars say otherwise', async () => {
    vi.stubEnv('INNGEST_EVENT_KEY', 'env-key');
    vi.stubEnv('INNGEST_BASE_URL', 'http://env-base.test');
    vi.stubEnv('INNGEST_EVENT_API_BASE_URL', 'http://env-event-api.test');
    vi.stubEnv('INNGEST_DEV', '1');
    standIn();
    await createInngestSender({ eventKey: 'test-key', baseUrl: BASE }).send(makeEvents(1));
    await createInngestSender({ eventKey: 'test-key' }).send(makeEvents(1));
    expect(captured.map((r) => r.url)).toEqual([`${BASE}/e/test-key`, 'https://inn.gs/e/test-key']);
  });

  it('sends nothing for an empty list', async () => {
    standIn();
    await createInngestSender({ eventKey: 'k', baseUrl: BASE }).send([]);
    expect(captured).toHaveLength(0);
  });

  it('goes through the fetch it was given', async () => {
    const calls: string[] = [];
    const fetchSpy: typeof fetch = async (input) => {
      calls.push(String(input));
      return Response.json({ ids: ['x'], status: 200 });
    };
    await createInngestSender({ eventKey: 'k', baseUrl: BASE, fetch: fetchSpy }).send(makeEvents(1));
    expect(calls).toEqual([`${BASE}/e/k`]);
  });

  it('rejects a missing key or an out-of-range batch size up front', () => {
    expect(() => createInngestSender({ eventKey: '' })).toThrow(TypeError);
    expect(() => createInngestSender({ eventKey: 'k', batchSize: 0 })).toThrow(RangeError);
    expect(() => createInngestSender({ eventKey: 'k', batchSize: 5001 })).toThrow(RangeError);
    expect(() => createInngestSender({ eventKey: 'k', batchSize: 1.5 })).toThrow(RangeError);
  });
});

describe('createInngestSender: batching', () => {
  it('splits 250 events into 100 + 100 + 50, in order', async () => {
    standIn();
    const events = makeEvents(250);
    await createInngestSender({ eventKey: 'k', baseUrl: BASE }).send(events);
    expect(captured.map((r) => bodyOf(r).length)).toEqual([100, 100, 50]);
    expect(captured.flatMap((r) => bodyOf(r).map((e) => e.id))).toEqual(events.map((e) => e.id));
  });

  it('honours a custom batch size', async () => {
    standIn();
    await createInngestSender({ eventKey: 'k', baseUrl: BASE, batchSize: 40 }).send(makeEvents(250));
    expect(captured.map((r) => bodyOf(r).length)).toEqual([40, 40, 40, 40, 40, 40, 10]);
  });

  it('also splits by size so each request body stays within 256 KiB', async () => {
    standIn();
    const events = makeEvents(5).map((e) => ({ ...e, data: { ...e.data, blob: 'x'.repeat(100 * 1024) } }));
    await createInngestSender({ eventKey: 'k', baseUrl: BASE }).send(events);
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
      createInngestSender({ eventKey: 'k', baseUrl: BASE }).send([...makeEvents(3), huge]),
    ).rejects.toThrow(RangeError);
    expect(captured).toHaveLength(0);
  });
});

describe('createInngestSender: failures', () => {
  it('throws InngestSendError with status 500 after the SDK made 5 attempts, and stops before later batches', async () => {
    standIn(() => HttpResponse.json({ error: 'boom' }, { status: 500 }));
    const started = Date.now();
    const error = await createInngestSender({ eventKey: 'k', baseUrl: BASE })
      .send(makeEvents(150))
      .catch((err: unknown) => err);
    const elapsed = Date.now() - started;

    expect(error).toBeInstanceOf(InngestSendError);
    const sendError = error as InngestSendError;
    expect(sendError.name).toBe('InngestSendError');
    expect(sendError.status).toBe(500);
    expect(sendError.attempts).toBe(5);
    expect(sendError.message).toContain('500');
    // All 5 requests are the SDK retrying the first batch; the second batch is never sent.
    expect(captured).toHaveLength(5);
    for (const request of captured) expect(bodyOf(request)[0]?.id).toBe('evt-0');
    // Backoff is 100·2^(n-1) ms + up to 100 ms jitter: 1.5–1.9 s in total.
    expect(elapsed).toBeGreaterThanOrEqual(1_500);
    expect(elapsed).toBeLessThan(5_000);
  });

  it('retries client errors too (the SDK does not distinguish them)', async () => {
    standIn(() => new HttpResponse('nope', { status: 401 }));
    const error = await createInngestSender({ eventKey: 'k', baseUrl: BASE })
      .send(makeEvents(1))
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(InngestSendError);
    expect((error as InngestSendError).status).toBe(401);
    expect((error as InngestSendError).attempts).toBe(5);
    expect(captured).toHaveLength(5);
  });

  it('rejects a 2xx answer without `status: 200` in the body (what a stand-in must return)', async () => {
    standIn(() => HttpResponse.json({ ids: [] }));
    const error = await createInngestSender({ eventKey: 'k', baseUrl: BASE })
      .send(makeEvents(1))
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(InngestSendError);
    expect((error as InngestSendError).status).toBeUndefined();
    expect((error as InngestSendError).attempts).toBe(5);
  });

  it('reports network errors without a status', async () => {
    server.use(http.all('*', () => HttpResponse.error()));
    const error = await createInngestSender({ eventKey: 'k', baseUrl: BASE })
      .send(makeEvents(1))
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(InngestSendError);
    expect((error as InngestSendError).status).toBeUndefined();
    expect((error as InngestSendError).attempts).toBe(5);
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
    const sender = createInngestSender({ eventKey: 'k', baseUrl: BASE });
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
    const outcome = createInngestSender({ eventKey: 'k', baseUrl: BASE, fetch: hangingFetch })
      .send(makeEvents(1))
      .catch((err: unknown) => err);
    await vi.advanceTimersByTimeAsync(5 * 5_000 + 2_000);
    const error = await outcome;
    expect(error).toBeInstanceOf(InngestSendError);
    expect((error as InngestSendError).status).toBeUndefined();
    expect((error as InngestSendError).attempts).toBe(5);
    expect((error as InngestSendError).message).toContain('no answer from Inngest within 5000 ms');
    expect(calls).toBe(5);
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
