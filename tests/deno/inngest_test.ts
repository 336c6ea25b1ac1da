import { InngestSendError, createInngestSender } from '../../src/shared/inngest/sender.ts';
import type { OutgoingEvent } from '../../src/shared/inngest/events.ts';

function assertEquals(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

Deno.test('createInngestSender posts to {base}/e/{key} through a local stand-in', async () => {
  const received: { method: string; path: string; contentType: string | null; body: unknown }[] = [];
  const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen() {} }, async (request) => {
    const body = await request.json();
    received.push({
      method: request.method,
      path: new URL(request.url).pathname,
      contentType: request.headers.get('content-type'),
      body,
    });
    return Response.json({ ids: ['internal-1', 'internal-2'], status: 200 });
  });

  try {
    const events: OutgoingEvent[] = [
      { name: 'workspace.repository.changed', id: 'delivery-1:ws-1', data: { workspaceId: 'ws-1' } },
      { name: 'workspace.metrics.aggregate', id: 'job-7:ws-2', data: { workspaceId: 'ws-2', count: 3 } },
    ];
    const sender = createInngestSender({ eventKey: 'test-key', baseUrl: `http://127.0.0.1:${server.addr.port}` });
    await sender.send(events);

    assertEquals(received.length, 1, 'request count');
    const [request] = received;
    assertEquals(request?.method, 'POST', 'method');
    assertEquals(request?.path, '/e/test-key', 'path');
    assertEquals(request?.contentType, 'application/json', 'content-type');
    const body = request?.body as Record<string, unknown>[];
    assertEquals(
      body.map(({ name, id, data }) => ({ name, id, data })),
      events,
      'body',
    );
    for (const event of body) assertEquals(typeof event.ts, 'number', 'ts');
  } finally {
    await server.shutdown();
  }
});

// The SDK builds its retry seed with Node's Buffer and silently drops to a single attempt
// when that throws, so the retry count has to be checked under Deno as well.
Deno.test('a failing stand-in surfaces as InngestSendError after the SDK retries', async () => {
  let requests = 0;
  const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen() {} }, async (request) => {
    await request.body?.cancel();
    requests += 1;
    return Response.json({ error: 'boom' }, { status: 500 });
  });

  try {
    const sender = createInngestSender({ eventKey: 'test-key', baseUrl: `http://127.0.0.1:${server.addr.port}` });
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
