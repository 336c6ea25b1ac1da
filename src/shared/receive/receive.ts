import type { Config } from '../config.ts';
import type { Database } from '../db/port.ts';
import { DatabaseUnavailableError, errorMessage } from '../errors.ts';
import { parseDelivery, readDeliveryHeaders, type Delivery } from '../github/delivery.ts';
import { isSupportedEvent } from '../github/events.ts';
import { verifySignature } from '../github/verify.ts';
import { executePlan, type ExecutionResult } from '../handlers/execute.ts';
import { planWork } from '../handlers/plan.ts';
import type { EventSender } from '../inngest/sender.ts';
import { chooseRoute, jobPriority } from '../routing/policy.ts';
import { withTimeout } from '../timeout.ts';
import { readBodyWithLimit } from './body.ts';
import { answer } from './respond.ts';
import { inspectDelivery, recordDelivery, type NewJob, type Recorded } from './store.ts';

export type ReceiveMode =
  /** The hybrid receiver: quick work inline, the rest queued for the drain. */
  | 'hybrid'
  /** The original synchronous function: every event's work done before answering. */
  | 'sync';

export interface ReceiveDeps {
  config: Pick<Config, 'githubWebhookSecrets' | 'workspaceThreshold' | 'quickEvents' | 'maxBodyBytes' | 'pushDebounceSeconds'> & {
    drain: Pick<Config['drain'], 'maxRetries' | 'fanoutConcurrency'>;
  };
  mode: ReceiveMode;
  /** null when no database is configured: answered as unavailable. */
  db: Database | null;
  sender: EventSender;
  /** Starts the drain for a queued job; must not throw. Handed to `waitUntil`, never awaited. */
  kickDrain?: (jobId: string) => Promise<void>;
  waitUntil?: (promise: Promise<unknown>) => void;
  now?: () => number;
  log?: (entry: Record<string, unknown>) => void;
  /** Overrides RECEIVE_BUDGET_MS (tests of a stalled database). */
  receiveBudgetMs?: number;
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * GitHub gives up after 10 s. Everything after the body is read shares this budget: database
 * calls that have not answered by then become a 503, so GitHub shows a failed delivery that can
 * be redelivered instead of a timeout.
 */
const RECEIVE_BUDGET_MS = 8_000;
/** Inline work past this is abandoned and the delivery queued (the Inngest SDK retries for ~2 s). */
const INLINE_BUDGET_MS = 3_000;
const MAX_HEADER_LENGTH = 255;

function withDeadline(db: Database, deadline: () => number): Database {
  return {
    call: (fn, args) =>
      withTimeout(db.call(fn, args), deadline(), () => {
        throw new DatabaseUnavailableError(`${fn} did not answer within the receive budget`);
      }),
  };
}

function inlineTimedOut(budgetMs: number): ExecutionResult {
  return {
    staleMarked: 0,
    eventsSent: 0,
    succeededWorkspaceIds: [],
    failedWorkspaceIds: ['*'],
    errors: [`inline work exceeded ${budgetMs} ms`],
    unavailable: true,
  };
}

/** The receive path: verify → parse → dedup → count → route → inline work or enqueue → answer. */
export async function receiveWebhook(request: Request, deps: ReceiveDeps): Promise<Response> {
  const now = deps.now ?? (() => performance.now());
  const started = now();
  const headerInfo = readDeliveryHeaders(request.headers);
  const deliveryId = headerInfo.id;
  const respond = (status: number, body: Record<string, unknown>, headers?: Record<string, string>) => {
    deps.log?.({
      msg: 'delivery',
      delivery: deliveryId,
      event: headerInfo.event,
      status,
      route: body.route ?? (body.duplicate ? 'duplicate' : undefined),
      jobId: body.jobId,
      error: body.error,
      ms: Math.round(now() - started),
    });
    return answer(status, deliveryId, body, headers);
  };

  if (request.method !== 'POST') {
    return respond(405, { error: `Method ${request.method} is not allowed; GitHub delivers with POST.` }, { allow: 'POST' });
  }
  if (deps.config.githubWebhookSecrets.length === 0) {
    return respond(500, { error: 'GITHUB_WEBHOOK_SECRET is not configured; refusing to accept unverified deliveries.' });
  }
  const bytes = await readBodyWithLimit(request, deps.config.maxBodyBytes);
  if (bytes === null) {
    return respond(413, { error: `The body is larger than the ${deps.config.maxBodyBytes}-byte limit.` });
  }
  const rawBody = utf8.decode(bytes);
  const signature = request.headers.get('x-hub-signature-256');
  if (!(await verifySignature(rawBody, signature, deps.config.githubWebhookSecrets))) {
    return respond(401, {
      error: signature ? 'The X-Hub-Signature-256 signature does not match.' : 'The X-Hub-Signature-256 header is missing.',
    });
  }
  if (!headerInfo.event) return respond(400, { error: 'The X-GitHub-Event header is missing.' });
  if (!deliveryId) return respond(400, { error: 'The X-GitHub-Delivery header is missing.' });
  // GitHub's GUIDs are 36 characters; a longer key would not fit the dedup index.
  if (deliveryId.length > MAX_HEADER_LENGTH || headerInfo.event.length > MAX_HEADER_LENGTH) {
    return respond(400, { error: `X-GitHub-Delivery and X-GitHub-Event must be at most ${MAX_HEADER_LENGTH} characters.` });
  }
  if (!deps.db) return respond(503, { error: 'No database is configured (DATABASE_URL or VITE_SUPABASE_URL).' });
  const bodyRead = now();
  const budget = deps.receiveBudgetMs ?? RECEIVE_BUDGET_MS;
  const scoped = { ...deps, db: withDeadline(deps.db, () => bodyRead + budget - now()) };

  try {
    if (!isSupportedEvent(headerInfo.event)) {
      const recorded = await recordDelivery(scoped.db, {
        deliveryId,
        event: headerInfo.event,
        action: null,
        repository: null,
        repositoryId: null,
        route: 'ignored',
        statusCode: 202,
        responseMs: now() - started,
        workspaceCount: null,
      });
      if (recorded.duplicate) return respond(200, { duplicate: true });
      return respond(202, { route: 'ignored', ignored: true, event: headerInfo.event });
    }

    const parsed = parseDelivery(request.headers, rawBody);
    if (!parsed.ok) return respond(400, { error: parsed.reason });
    return await routeDelivery(parsed.delivery, scoped, respond, () => now() - started);
  } catch (error) {
    if (error instanceof DatabaseUnavailableError) {
      deps.log?.({ msg: 'database unavailable', delivery: deliveryId, error: error.message });
      return respond(503, { error: 'The database is unavailable; redeliver this delivery later.' });
    }
    // Still JSON with the delivery id, so GitHub's log shows which delivery to redeliver.
    deps.log?.({ msg: 'receive failed', delivery: deliveryId, error: errorMessage(error) });
    return respond(500, { error: 'Internal error; redeliver this delivery later.' });
  }
}

type Respond = (status: number, body: Record<string, unknown>) => Response;

async function routeDelivery(
  delivery: Delivery,
  deps: ReceiveDeps,
  respond: Respond,
  elapsed: () => number,
): Promise<Response> {
  const db = deps.db as Database;
  const sync = deps.mode === 'sync';
  const inspection = await inspectDelivery(db, {
    deliveryId: delivery.id,
    repositoryId: delivery.repository?.id ?? null,
    repository: delivery.repository?.fullName ?? null,
    // Inline work needs the ids; queued work looks them up when it runs.
    idLimit: sync ? 2_147_483_647 : deps.config.workspaceThreshold,
  });
  if (inspection.alreadyRecorded) return respond(200, { duplicate: true });

  const count = inspection.workspaceCount;
  const route = sync && delivery.event !== 'ping' && count > 0 ? 'inline' : chooseRoute(delivery.event, count, deps.config);
  const base = {
    deliveryId: delivery.id,
    event: delivery.event,
    action: delivery.action,
    repository: delivery.repository?.fullName ?? null,
    repositoryId: delivery.repository?.id ?? null,
    workspaceCount: count,
  };

  if (route === 'no_workspace') {
    const recorded = await recordDelivery(db, { ...base, route, statusCode: 200, responseMs: elapsed() });
    if (recorded.duplicate) return respond(200, { duplicate: true });
    return respond(200, { route, workspaces: 0, queued: false });
  }

  if (route === 'inline') {
    const plan = await planWork({
      event: delivery.event,
      action: delivery.action,
      source: delivery.id,
      deliveryIds: [delivery.id],
      repository: { id: base.repositoryId, fullName: base.repository },
      data: delivery.payload as unknown as Record<string, unknown>,
      workspaceIds: inspection.workspaceIds ?? [],
    });
    const work = executePlan(plan, { db, sender: deps.sender, concurrency: deps.config.drain.fanoutConcurrency });
    const result = sync ? await work : await withTimeout(work, INLINE_BUDGET_MS, () => inlineTimedOut(INLINE_BUDGET_MS));
    if (result.failedWorkspaceIds.length === 0) {
      const recorded = await recordDelivery(db, { ...base, route, statusCode: 200, responseMs: elapsed() });
      if (recorded.duplicate) return respond(200, { duplicate: true });
      return respond(200, { route, workspaces: count, eventsSent: result.eventsSent, cachesInvalidated: result.staleMarked });
    }
    deps.log?.({ msg: 'inline work failed', delivery: delivery.id, errors: result.errors });
    if (sync) {
      // Nothing recorded: GitHub shows the failure and a redelivery runs the work again.
      return respond(502, { error: `Inline work failed: ${result.errors.join('; ')}` });
    }
    // Nothing lost: the drain retries what failed inline (event ids make the re-send safe).
  }

  // Pushes wait out a debounce window so a burst becomes one job; kicking them now would claim
  // the job at once and end the window. The sweep (or the local timer) runs them after it.
  const coalescible = delivery.event === 'push' && base.repositoryId !== null;
  const debounced = coalescible && deps.config.pushDebounceSeconds > 0;
  const job: NewJob = {
    type: `webhook/${delivery.event}`,
    payload: {
      event: delivery.event,
      action: delivery.action,
      delivery_id: delivery.id,
      data: delivery.payload,
      received_at: new Date().toISOString(),
    },
    priority: jobPriority(delivery.event),
    max_retries: deps.config.drain.maxRetries,
    coalesce_key: coalescible ? `push:${base.repositoryId}` : null,
    delay_seconds: debounced ? deps.config.pushDebounceSeconds : 0,
  };
  const recorded: Recorded = await recordDelivery(db, { ...base, route: 'queued', statusCode: 202, responseMs: elapsed(), job });
  if (recorded.duplicate) return respond(200, { duplicate: true });
  if (recorded.jobId && deps.kickDrain && !debounced) {
    const kick = deps.kickDrain(recorded.jobId).catch((error: unknown) => {
      deps.log?.({ msg: 'drain kick failed', jobId: recorded.jobId, error: errorMessage(error) });
    });
    if (deps.waitUntil) deps.waitUntil(kick);
  }
  return respond(202, {
    route: 'queued',
    jobId: recorded.jobId,
    coalesced: recorded.coalesced,
    workspaces: count,
    ...(debounced ? { debounceSeconds: deps.config.pushDebounceSeconds } : {}),
  });
}
