import type { IncomingMessage, ServerResponse } from 'node:http';

/** The request line's target is not a URL (e.g. `POST http://[`): the client's error, a 400. */
export class MalformedTargetError extends Error {
  override name = 'MalformedTargetError';
}

export interface BridgedRequest {
  request: Request;
  /** The body went past the limit: the handler saw at most one chunk more than it allows. */
  overLimit(): boolean;
  /** The whole body was read (or there was none). */
  complete(): boolean;
}

/**
 * node:http → Web Request, so the local stack serves the deployed handlers unchanged. The body is
 * streamed, not buffered: a handler that stops reading (the receiver past WEBHOOK_MAX_BODY_BYTES)
 * leaves the rest unread in the socket, and nothing here holds more than `maxBodyBytes` plus one
 * chunk, whatever a client sends.
 */
export function toWebRequest(req: IncomingMessage, origin: string, maxBodyBytes = Number.POSITIVE_INFINITY): BridgedRequest {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', origin);
  } catch {
    throw new MalformedTargetError('The request target is not a valid URL.');
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) value.forEach((v) => headers.append(name, v));
    else if (value !== undefined) headers.set(name, value);
  }
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  let complete = !hasBody;
  let overLimit = false;
  let total = 0;
  const chunks = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // Checked before reading more: the chunk that crossed the limit was still passed on, so
        // the receiver's own limit check answers (413 with the delivery id) rather than an error.
        if (total > maxBodyBytes) {
          overLimit = true;
          controller.error(new RangeError(`the body is larger than ${maxBodyBytes} bytes`));
          return;
        }
        const { value, done } = await chunks.next();
        if (done) {
          complete = true;
          controller.close();
          return;
        }
        total += value.byteLength;
        controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      },
      // A handler that stops reading leaves the rest in the socket; the server closes it.
    },
    { highWaterMark: 0 },
  );
  const request = new Request(url, { method, headers, ...(hasBody ? { body, duplex: 'half' } : {}) });
  return { request, overLimit: () => overLimit, complete: () => complete };
}

export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => res.setHeader(name, value));
  // The body's chunks straight from its reader: arrayBuffer() reads the same chunks through
  // several more layers of promises and copies them once more.
  const chunks: Uint8Array[] = [];
  if (response.body) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
  }
  res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
}
