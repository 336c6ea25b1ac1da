import pkg from '../../package.json' with { type: 'json' };
import { createEventApiSender } from '../../src/shared/inngest/event-api-sender.ts';
import type { OutgoingEvent } from '../../src/shared/inngest/events.ts';
import { createInngestSender } from '../../src/shared/inngest/sdk-sender.ts';
import { InngestSendError, type EventSender, type InngestSenderOptions } from '../../src/shared/inngest/sender.ts';

function assertEquals(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

type Received = { method: string; path: string; headers: Record<string, string>; body: unknown };

// The headers each sender sets itself (Deno adds accept, host and the like on the wire).
const SDK_AGENT = `inngest-js:v${pkg.dependencies.inngest}`;
const SENDERS: { name: string; create: (opts: InngestSenderOptions) => EventSender; headers: Record<string, string | RegExp> }[] = [
  {
    name: 'the SDK sender',
    create: createInngestSender,
    headers: {
      'content-type': 'application/json',
      'user-agent': SDK_AGENT,
      'x-inngest-sdk': SDK_AGENT,
      'x-inngest-sdk-handled': 'true',
      'x-inngest-event-id-seed': /^\d{13},[A-Za-z0-9+/]+=*$/,
    },
  },
  {
    name: 'the Event API sender (what the Edge Function uses)',
    create: createEventApiSender,
    headers: { 'content-type': 'application/json', 'user-agent': 'webhook-router (Inngest Event API)' },
  },
];
const WIRE_HEADERS = new Set(['accept', 'accept-encoding', 'accept-language', 'content-length', 'host', 'connection', 'sec-fetch-mode']);

function assertHeaders(actual: Record<string, string>, expected: Record<string, string | RegExp>, what: string): void {
  const own = Object.fromEntries(Object.entries(actual).filter(([name]) => !WIRE_HEADERS.has(name)));
  assertEquals(Object.keys(own).sort(), Object.keys(expected).sort(), `${what}: header names`);
  for (const [name, want] of Object.entries(expected)) {
    const got = own[name] ?? '';
    if (want instanceof RegExp ? !want.test(got) : got !== want) throw new Error(`${what}: ${name} is ${got}`);
  }
}

for (const { name, create, headers } of SENDERS) {
  Deno.test(`${name} posts to {base}/e/{key} through a local stand-in`, async () => {
    const received: Received[] = [];
    const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen() {} }, async (request) => {
      received.push({
        method: request.method,
        path: new URL(request.url).pathname,
        headers: Object.fromEntries(request.headers),
        body: await request.json(),
      });
      return Response.json({ ids: ['internal-1', 'internal-2'], status: 200 });
    });

    try {
      const events: OutgoingEvent[] = [
        { name: 'workspace.repository.changed', id: 'delivery-1:ws-1', data: { workspaceId: 'ws-1' } },
        { name: 'workspace.metrics.aggregate', id: 'job-7:ws-2', data: { workspaceId: 'ws-2', count: 3 } },
      ];
      await create({ eventKey: 'test-key', baseUrl: `http://127.0.0.1:${server.addr.port}` }).send(events);

      assertEquals(received.length, 1, 'request count');
      const [request] = received;
      assertEquals(request?.method, 'POST', 'method');
      assertEquals(request?.path, '/e/test-key', 'path');
      assertHeaders(request?.headers ?? {}, headers, name);
      const body = request?.body as Record<string, unknown>[];
      assertEquals(
        body.map(({ name, id, data }) => ({ name, id, data })),
        events,
        'body',
      );
      for (const event of body) {
        assertEquals(Object.keys(event).sort(), ['data', 'id', 'name', 'ts'], 'event keys');
        assertEquals(typeof event.ts, 'number', 'ts');
      }
    } finally {
      await server.shutdown();
    }
  });

  // The SDK builds its retry seed with Node's Buffer and silently drops to a single attempt
  // when that throws, so the retry count has to be checked under Deno as well.
  Deno.test(`${name}: a failing stand-in surfaces as InngestSendError after 5 attempts`, async () => {
    let requests = 0;
    const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen() {} }, async (request) => {
      await request.body?.cancel();
      requests += 1;
      return Response.json({ error: 'boom' }, { status: 500 });
    });

    try {
      const sender = create({ eventKey: 'test-key', baseUrl: `http://127.0.0.1:${server.addr.port}` });
      const error = await sender
        .send([{ name: 'workspace.repository.changed', id: 'delivery-1:ws-1', data: {} }])
        .then(() => undefined, (err: unknown) => err);
      if (!(error instanceof InngestSendError)) throw new Error(`expected InngestSendError, got ${String(error)}`);
      assertEquals(error.status, 500, 'status');
      assertEquals(error.attempts, 5, 'attempts');
      assertEquals(requests, 5, 'requests seen by the stand-in');
    } finally {
      await server.shutdown();
    }
  });
}
