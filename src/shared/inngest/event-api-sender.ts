// Inngest's documented Event API over fetch: what the Edge Function sends with. The SDK would
// bring 227 npm packages (72 MiB, 93 of them @opentelemetry/*) into a bundle Supabase caps at
// 5 MB when it bundles server-side; this needs none. Node keeps the SDK (sdk-sender.ts). Both
// share sender.ts, and this one follows the SDK where it matters: the same body (each event
// with a `ts`), the same 5 attempts with the same backoff for failures that may pass (network,
// 5xx, 408, 429; a refusal is not repeated), and a 2xx is accepted only with Inngest's
// `{"status":200}` answer.
import type { OutgoingEvent } from './events.ts';
import {
  checkSenderOptions,
  createBatchingSender,
  fetchWithTimeout,
  InngestSendError,
  type EventSender,
  type InngestSenderOptions,
} from './sender.ts';

const MAX_ATTEMPTS = 5;
const BACKOFF_BASE_MS = 100;
const USER_AGENT = 'webhook-router (Inngest Event API)';

/** The wait before attempt `attempt + 1`: 100·2^(attempt-1) ms plus up to 100 ms of jitter. */
function backoffMs(attempt: number): number {
  return BACKOFF_BASE_MS * 2 ** (attempt - 1) + Math.random() * BACKOFF_BASE_MS;
}

/** Why an answer is not an acceptance, or null when Inngest took the batch. */
async function refusal(response: Response): Promise<string | null> {
  const text = await response.text();
  if (!response.ok) return `HTTP ${response.status}: ${text.slice(0, 200)}`;
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === 'object' && body !== null && 'status' in body && body.status === 200) return null;
  } catch {
    // Falls through: a 2xx that is not Inngest's JSON (a proxy's page, say) is no acceptance.
  }
  return `HTTP ${response.status} without Inngest's {"status":200}: ${text.slice(0, 200)}`;
}

export function createEventApiSender(opts: InngestSenderOptions): EventSender {
  const { baseUrl, batchSize } = checkSenderOptions('createEventApiSender', opts);
  const url = new URL(`e/${encodeURIComponent(opts.eventKey)}`, baseUrl);

  async function postBatch(batch: OutgoingEvent[]): Promise<void> {
    const ts = Date.now();
    const body = JSON.stringify(batch.map(({ name, id, data }) => ({ name, id, data, ts })));
    let status: number | undefined;
    let reason = '';
    let attempts = 0;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      attempts = attempt;
      status = undefined;
      try {
        // Resolved per call so fetch patched after construction (msw, test doubles) is honoured.
        const response = await fetchWithTimeout(opts.fetch ?? globalThis.fetch, url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT },
          body,
        });
        if (!response.ok) status = response.status;
        const refused = await refusal(response);
        if (refused === null) return;
        reason = refused;
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err);
      }
      // A refusal of these events (400, 401, 413, 422 …) answers the same again: the caller
      // decides what it means. Timeouts and rate limits are worth another try.
      if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) break;
      if (attempt < MAX_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)));
    }
    throw new InngestSendError(
      `Inngest did not accept ${batch.length} event(s) after ${attempts} attempt(s): ${reason}`,
      status,
      { attempts },
    );
  }

  return createBatchingSender(batchSize, postBatch);
}
