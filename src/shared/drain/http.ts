import { DatabaseUnavailableError } from '../errors.ts';
import { isAuthorized } from './auth.ts';
import { drain, type DrainDeps } from './drain.ts';

export interface DrainHttpDeps extends Omit<DrainDeps, 'worker'> {
  /** PROCESS_WEBHOOK_SECRET and/or the service role key; empty means nobody may call. */
  tokens: readonly string[];
  newWorkerId?: () => string;
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
  try {
    const summary = await drain({ ...deps, worker }, jobId ? { jobId } : {});
    return json(200, { ok: true, ...summary });
  } catch (error) {
    if (error instanceof DatabaseUnavailableError) {
      deps.log?.({ msg: 'drain: database unavailable', worker, error: error.message });
      return json(503, { ok: false, worker, error: 'The database is unavailable.' });
    }
    throw error;
  }
}
