// The Inngest SDK as a sender: what Node (Netlify, the local stack, the CLI) uses. The Edge
// Function uses event-api-sender.ts instead; the SDK's dependencies would not fit its bundle.
import { Inngest } from 'inngest';
import type { OutgoingEvent } from './events.ts';
import {
  checkSenderOptions,
  createBatchingSender,
  fetchWithTimeout,
  InngestSendError,
  type EventSender,
  type InngestSenderOptions,
} from './sender.ts';

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

export function createInngestSender(opts: InngestSenderOptions): EventSender {
  const { baseUrl, batchSize } = checkSenderOptions('createInngestSender', opts);
  const records = new Map<string, AttemptRecord>();

  const trackedFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const record = records.get(firstEventId(init?.body) ?? '');
    if (record) {
      record.attempts += 1;
      record.status = undefined;
    }
    // Resolved per call so fetch patched after construction (msw, test doubles) is honoured.
    const response = await fetchWithTimeout(opts.fetch ?? globalThis.fetch, input, init);
    if (record && !response.ok) record.status = response.status;
    return response;
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

  return createBatchingSender(batchSize, sendBatch);
}
