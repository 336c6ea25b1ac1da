// What every Inngest sender shares, whatever carries its requests (the SDK under Node, the Event
// API over fetch in the Edge Function): the contract, the error, batching and the size rules.
// Nothing here may import the SDK: the Edge Function's bundle must not reach it.
import type { Config } from '../config.ts';
import type { OutgoingEvent } from './events.ts';

export interface EventSender {
  send(events: OutgoingEvent[]): Promise<void>;
}

/**
 * Thrown when a batch could not be delivered; the caller is expected to retry the whole
 * `send`, which is safe because every event carries an idempotency id.
 * `status` is the last HTTP status seen (undefined for network errors, timeouts and
 * 2xx answers that are not Inngest's); `attempts` counts the HTTP attempts made.
 */
export class InngestSendError extends Error {
  override readonly name = 'InngestSendError';
  readonly status: number | undefined;
  readonly attempts: number;

  constructor(message: string, status?: number, details: { attempts?: number; cause?: unknown } = {}) {
    super(message, { cause: details.cause });
    this.status = status;
    this.attempts = details.attempts ?? 0;
  }
}

/** What a caller may set on either sender. */
export interface InngestSenderOptions {
  eventKey: string;
  baseUrl?: string;
  fetch?: typeof fetch;
  batchSize?: number;
}

/** Posts one batch (one HTTP request, retried inside); throws InngestSendError when it gives up. */
export type PostBatch = (batch: OutgoingEvent[]) => Promise<void>;

const DEFAULT_BATCH_SIZE = 100;
// Inngest's documented cap on events per request.
const MAX_BATCH_SIZE = 5000;
// Inngest caps a request body at 512 KB (per event: 256 KiB on the free plan); half of the
// request cap leaves room for what a sender adds to each event (ts) and for plan differences.
const MAX_BATCH_BYTES = 256 * 1024;
// Rough upper bound for the `"ts":<ms>,` a sender adds plus the array comma.
const TS_OVERHEAD_BYTES_PER_EVENT = 32;
// Neither the SDK nor fetch puts a timeout on a request, so a server that accepts the
// connection and never answers would hang `send` forever; with 5 attempts this bounds a send
// to roughly 5 × 5 s plus the backoff.
export const REQUEST_TIMEOUT_MS = 5_000;
const DEFAULT_BASE_URL = 'https://inn.gs/';

const encoder = new TextEncoder();

function eventBytes(event: OutgoingEvent): number {
  return encoder.encode(JSON.stringify(event)).byteLength + TS_OVERHEAD_BYTES_PER_EVENT;
}

function assertSendable(event: OutgoingEvent, bytes: number): void {
  // A RangeError, not InngestSendError: retrying cannot make an oversized event fit.
  if (bytes > MAX_BATCH_BYTES) {
    throw new RangeError(
      `event ${event.name} (${event.id}) is ${bytes} bytes; the limit is ${MAX_BATCH_BYTES}. ` +
        'Send ids and small facts, not raw payloads.',
    );
  }
}

function toBatches(events: OutgoingEvent[], batchSize: number): OutgoingEvent[][] {
  const batches: OutgoingEvent[][] = [];
  let current: OutgoingEvent[] = [];
  let currentBytes = 0;
  for (const event of events) {
    const bytes = eventBytes(event);
    assertSendable(event, bytes);
    if (current.length > 0 && (current.length >= batchSize || currentBytes + bytes > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(event);
    currentBytes += bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Checks a sender's options; `factory` names the caller in the errors. The base URL always ends
 * in '/', so `new URL('e/<key>', base)` extends its path instead of replacing the last segment.
 */
export function checkSenderOptions(factory: string, opts: InngestSenderOptions): { baseUrl: URL; batchSize: number } {
  // The SDK treats an empty key as absent and would fall back to INNGEST_EVENT_KEY.
  if (!opts.eventKey) throw new TypeError(`${factory}: eventKey is required`);
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new RangeError(`${factory}: batchSize must be an integer in 1..${MAX_BATCH_SIZE}`);
  }
  const baseUrl = new URL(opts.baseUrl ?? DEFAULT_BASE_URL);
  if (!baseUrl.pathname.endsWith('/')) baseUrl.pathname += '/';
  baseUrl.search = '';
  baseUrl.hash = '';
  return { baseUrl, batchSize };
}

/** Sends in batches, one after another, so a failure stops before later batches. */
export function createBatchingSender(batchSize: number, post: PostBatch): EventSender {
  return {
    async send(events) {
      // Batches already sent are deduplicated by id when the caller retries the whole send.
      for (const batch of toBatches(events, batchSize)) await post(batch);
    },
  };
}

/**
 * One request with REQUEST_TIMEOUT_MS over it and its body, answered as a buffered Response.
 * Every failure is a TypeError starting "fetch failed" (what the SDK expects of an outage;
 * anything else it logs as a misconfiguration).
 */
export async function fetchWithTimeout(
  baseFetch: typeof fetch,
  input: RequestInfo | URL,
  init: RequestInit | undefined,
): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`no answer from Inngest within ${REQUEST_TIMEOUT_MS} ms`)),
    REQUEST_TIMEOUT_MS,
  );
  try {
    const response = await baseFetch(input, { ...init, signal: controller.signal });
    // Buffered under the timer so a stalled body cannot hang whoever reads it.
    const body = await response.arrayBuffer();
    return new Response(body.byteLength > 0 ? body : null, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new TypeError(`fetch failed: ${reason}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Without INNGEST_EVENT_KEY a deployed function cannot deliver events: it fails the send, so
 * inline work falls back to the queue and queued work is retried once the key is set.
 */
export function unconfiguredSender(): EventSender {
  return {
    async send(events: OutgoingEvent[]) {
      if (events.length > 0) throw new InngestSendError('INNGEST_EVENT_KEY is not set; events cannot be sent');
    },
  };
}

/** The sender a runtime's configuration asks for, built with that runtime's `create`. */
export function configuredSender(
  config: Pick<Config, 'inngest'>,
  create: (opts: InngestSenderOptions) => EventSender,
): EventSender {
  const { eventKey, baseUrl } = config.inngest;
  if (!eventKey) return unconfiguredSender();
  return create({ eventKey, ...(baseUrl ? { baseUrl } : {}) });
}

export function createRecordingSender(): EventSender & { sent: OutgoingEvent[] } {
  const sent: OutgoingEvent[] = [];
  return {
    sent,
    async send(events) {
      // Same size check as the real senders so the local stack catches oversized events too.
      for (const event of events) assertSendable(event, eventBytes(event));
      // Copies, so later mutation by the caller cannot rewrite what was "sent".
      sent.push(...events.map((event) => structuredClone(event)));
    },
  };
}
