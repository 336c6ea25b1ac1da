import { Inngest } from 'inngest';
import type { OutgoingEvent } from './events.ts';

export interface EventSender {
  send(events: OutgoingEvent[]): Promise<void>;
}

/**
 * Thrown when a batch could not be delivered; the caller is expected to retry the whole
 * `send`, which is safe because every event carries an idempotency id.
 * `status` is the last HTTP status seen (undefined for network errors, timeouts and
 * 2xx answers the SDK could not accept); `attempts` counts the SDK's own HTTP attempts.
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

const DEFAULT_BATCH_SIZE = 100;
// Inngest's documented cap on events per request.
const MAX_BATCH_SIZE = 5000;
// Inngest caps a request body at 512 KB (per event: 256 KiB on the free plan); half of the
// request cap leaves room for what the SDK adds to each event (ts) and for plan differences.
const MAX_BATCH_BYTES = 256 * 1024;
// Rough upper bound for the `"ts":<ms>,` the SDK adds plus the array comma.
const SDK_OVERHEAD_BYTES_PER_EVENT = 32;
// The SDK puts no timeout on its requests, so a stand-in that accepts the connection and
// never answers would hang `send` forever; with the SDK's 5 attempts this bounds a send
// to roughly 5 × 5 s plus ~1.9 s of backoff.
const REQUEST_TIMEOUT_MS = 5_000;
const DEFAULT_BASE_URL = 'https://inn.gs/';

const encoder = new TextEncoder();

function eventBytes(event: OutgoingEvent): number {
  return encoder.encode(JSON.stringify(event)).byteLength + SDK_OVERHEAD_BYTES_PER_EVENT;
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

type AttemptRecord = { attempts: number; status: number | undefined; refs: number };

// The SDK's error carries no status and it retries internally, so the status and attempt
// count are observed in the fetch it calls. One client serves concurrent sends, so each
// request is matched to its batch by the batch's first event id.
function firstEventId(body: unknown): string | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (!Array.isArray(parsed)) return undefined;
    const first: unknown = parsed[0];
    if (typeof first === 'object' && first !== null && 'id' in first && typeof first.id === 'string') {
      return first.id;
    }
  } catch {
    // Not our JSON; nothing to attribute.
  }
  return undefined;
}

export function createInngestSender(opts: {
  eventKey: string;
  baseUrl?: string;
  fetch?: typeof fetch;
  batchSize?: number;
}): EventSender {
  // The SDK treats an empty key as absent and would fall back to INNGEST_EVENT_KEY.
  if (!opts.eventKey) throw new TypeError('createInngestSender: eventKey is required');
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new RangeError(`createInngestSender: batchSize must be an integer in 1..${MAX_BATCH_SIZE}`);
  }
  // The SDK builds the URL as new URL(`e/${key}`, base): without a trailing slash the
  // last path segment of the base would be replaced instead of extended.
  const baseUrl = new URL(opts.baseUrl ?? DEFAULT_BASE_URL);
  if (!baseUrl.pathname.endsWith('/')) baseUrl.pathname += '/';
  baseUrl.search = '';
  baseUrl.hash = '';

  const records = new Map<string, AttemptRecord>();

  const trackedFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const record = records.get(firstEventId(init?.body) ?? '');
    if (record) {
      record.attempts += 1;
      record.status = undefined;
    }
    // Resolved per call so fetch patched after construction (msw, test doubles) is honoured.
    const baseFetch = opts.fetch ?? globalThis.fetch;
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`no answer from Inngest within ${REQUEST_TIMEOUT_MS} ms`)),
      REQUEST_TIMEOUT_MS,
    );
    try {
      const response = await baseFetch(input, { ...init, signal: controller.signal });
      if (record && !response.ok) record.status = response.status;
      // Buffered under the timer so a stalled body cannot hang the SDK's response.json().
      const body = await response.arrayBuffer();
      return new Response(body.byteLength > 0 ? body : null, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    } catch (err) {
      // The SDK logs every custom-fetch rejection not starting with "fetch failed" as a
      // misconfiguration; these are ordinary outages, reported by the InngestSendError.
      const reason = err instanceof Error ? err.message : String(err);
      throw new TypeError(`fetch failed: ${reason}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  };

  const client = new Inngest({
    id: 'webhook-router',
    // Explicit options beat INNGEST_EVENT_KEY / INNGEST_BASE_URL / INNGEST_EVENT_API_BASE_URL /
    // INNGEST_DEV, which the SDK otherwise reads from the runtime environment by itself; the
    // composition root decides what reaches this sender.
    eventKey: encodeURIComponent(opts.eventKey),
    baseUrl: baseUrl.href,
    isDev: false,
    fetch: trackedFetch,
    // This client only sends events: no function runs whose sessions or AI spans could be tracked.
    sessionPropagation: false,
    aiMetadata: false,
  });

  async function sendBatch(batch: OutgoingEvent[]): Promise<void> {
    const key = batch[0]?.id ?? '';
    const record = records.get(key) ?? { attempts: 0, status: undefined, refs: 0 };
    record.refs += 1;
    records.set(key, record);
    try {
      await client.send(batch.map(({ name, id, data }) => ({ name, id, data })));
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new InngestSendError(
        `Inngest did not accept ${batch.length} event(s) after ${record.attempts} attempt(s): ${reason}`,
        record.status,
        { attempts: record.attempts, cause: err },
      );
    } finally {
      record.refs -= 1;
      if (record.refs === 0) records.delete(key);
    }
  }

  return {
    async send(events) {
      // Sequential so a failure stops before later batches; already sent batches are
      // deduplicated by id when the caller retries.
      for (const batch of toBatches(events, batchSize)) await sendBatch(batch);
    },
  };
}

export function createRecordingSender(): EventSender & { sent: OutgoingEvent[] } {
  const sent: OutgoingEvent[] = [];
  return {
    sent,
    async send(events) {
      // Same size check as the real sender so the local stack catches oversized events too.
      for (const event of events) assertSendable(event, eventBytes(event));
      // Copies, so later mutation by the caller cannot rewrite what was "sent".
      sent.push(...events.map((event) => structuredClone(event)));
    },
  };
}
