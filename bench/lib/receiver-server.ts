/**
 * Both receivers over real HTTP, as the Netlify functions run them: node:http → Web Request →
 * the deployed entry body (handleNetlifyRequest) in mode 'hybrid' or 'sync' → node:http. Netlify
 * buffers a function's request body (up to 6 MB) and hands it over whole, so the body is read
 * first and the Request built from it, not streamed as the local stack does.
 * Configuration comes from the environment the benchmark passes (DATABASE_URL, GITHUB_WEBHOOK_SECRET,
 * INNGEST_EVENT_KEY, INNGEST_BASE_URL, PROCESS_WEBHOOK_URL, …). Started by startChild().
 */
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { sendWebResponse } from '../../src/cli/http-bridge.ts';
import { handleNetlifyRequest } from '../../src/node/netlify.ts';
import { announceReady } from './child.ts';
import { HYBRID_PATH, SYNC_PATH } from './deliveries.ts';

// Netlify keeps the function running until waitUntil's promises settle; here they simply run on.
const context = { waitUntil: (promise: Promise<unknown>) => void promise.catch(() => {}) };

async function bufferedRequest(req: IncomingMessage): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) value.forEach((v) => headers.append(name, v));
    else if (value !== undefined) headers.set(name, value);
  }
  const method = req.method ?? 'GET';
  return new Request(new URL(req.url ?? '/', 'http://127.0.0.1'), {
    method,
    headers,
    ...(method !== 'GET' && method !== 'HEAD' ? { body: Buffer.concat(chunks) } : {}),
  });
}

const server = createServer(async (req, res) => {
  try {
    const request = await bufferedRequest(req);
    const path = new URL(request.url).pathname;
    const mode = path === HYBRID_PATH ? 'hybrid' : path === SYNC_PATH ? 'sync' : null;
    if (!mode) {
      res.statusCode = 404;
      res.end('{}');
      return;
    }
    await sendWebResponse(res, await handleNetlifyRequest(request, context, mode));
  } catch (error) {
    res.statusCode = 500;
    res.end(JSON.stringify({ error: String(error) }));
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  announceReady(port, () => new Promise<void>((resolve) => server.close(() => resolve())));
});
