import { DatabaseUnavailableError } from '../errors.ts';
import { isAuthorized } from './auth.ts';
import { drain, type DrainDeps } from './drain.ts';

export interface DrainHttpDeps extends Omit<DrainDeps, 'worker' | 'onFirstClaim'> {
  /** PROCESS_WEBHOOK_SECRET and/or the service role key; empty means nobody may call. */
  tokens: readonly string[];
  newWorkerId?: () => string;
  /**
   * Keeps work going after the answer (the Edge runtime's EdgeRuntime.waitUntil). With it, a `{}`
   * drain answers 202 after its first claim and drains on in the background: the every-minute
   * sweep's pg_net call gives up after 5 s, and the receiver's kick need not wait either.
   */
  waitUntil?: (work: Promise<unknown>) => void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function json(status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/**
 * The process-webhook function. Deployed with --no-verify-jwt, so it checks the bearer token
 * itself before touching anything. `{ "jobId": "…" }` runs that job if still claimable; `{}`
 * drains until the queue is empty or the budget is spent.
 */
export async function handleDrainRequest(request: Request, deps: DrainHttpDeps): Promise<Response> {
  if (request.method !== 'POST') return json(405, { ok: false, error: 'Use POST.' }, { allow: 'POST' });
  if (deps.tokens.length === 0) {
    return json(500, { ok: false, error: 'PROCESS_WEBHOOK_SECRET is not configured; refusing all callers.' });
  }
  if (!(await isAuthorized(request, deps.tokens))) {
    return json(401, { ok: false, error: 'A valid Authorization: Bearer token is required.' });
  }

  let body: unknown = {};
  const text = await request.text();
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      return json(400, { ok: false, error: 'The body must be JSON: {} or {"jobId": "<uuid>"}.' });
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return json(400, { ok: false, error: 'The body must be a JSON object.' });
  }
  const jobId = (body as Record<string, unknown>).jobId;
  if (jobId !== undefined && (typeof jobId !== 'string' || !UUID.test(jobId))) {
    return json(400, { ok: false, error: 'jobId must be a job uuid.' });
  }

  const worker = deps.newWorkerId?.() ?? `drain-${crypto.randomUUID()}`;
  const unavailable = (error: unknown): Response => {
    if (!(error instanceof DatabaseUnavailableError)) throw error;
    deps.log?.({ msg: 'drain: database unavailable', worker, error: error.message });
    return json(503, { ok: false, worker, error: 'The database is unavailable.' });
  };
  if (!jobId && deps.waitUntil) return drainInBackground(deps, worker, deps.waitUntil).catch(unavailable);
  try {
    const summary = await drain({ ...deps, worker }, jobId ? { jobId } : {});
    deps.log?.({ msg: 'drain finished', ...summary });
    return json(200, { ok: true, ...summary });
  } catch (error) {
    return unavailable(error);
  }
}

/** Answers 202 with the first claim's size once it is known; the drain goes on after the answer. */
async function drainInBackground(
  deps: DrainHttpDeps,
  worker: string,
  waitUntil: (work: Promise<unknown>) => void,
): Promise<Response> {
  let firstClaim: (claimed: number) => void = () => {};
  const claimed = new Promise<number>((resolve) => (firstClaim = resolve));
  const run = drain({ ...deps, worker, onFirstClaim: firstClaim });
  waitUntil(
    run.then(
      (summary) => deps.log?.({ msg: 'drain finished', ...summary }),
      (error: unknown) => deps.log?.({ msg: 'drain failed', worker, error: error instanceof Error ? error.message : String(error) }),
    ),
  );
  // The first claim, or the drain's failure before it (a database outage → 503).
  const first = await Promise.race([claimed, run.then((summary) => summary.claimed)]);
  return json(202, { ok: true, worker, claimed: first, background: true });
}
