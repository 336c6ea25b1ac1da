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
import { readBodyWithLimit } from './body.ts';
import { answer } from './respond.ts';
import { inspectDelivery, recordDelivery, type NewJob, type Recorded } from './store.ts';

export type ReceiveMode =
  /** The hybrid receiver: quick work inline, the rest queued for the drain. */
  | 'hybrid'
  /** The original synchronous function: every event's work done before answering. */
  | 'sync';

export interface ReceiveDeps {
  config: Pick<Config, 'githubWebhookSecrets' | 'workspaceThreshold' | 'quickEvents' | 'maxBodyBytes'> & {
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
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Inline work must leave GitHub's 10 s well intact: the Inngest SDK retries a failing send for
 * up to ~2 s (and a hung one far longer), so past this budget the delivery is queued instead.
 */
const INLINE_BUDGET_MS = 3_000;

async function withinInlineBudget(work: Promise<ExecutionResult>, budgetMs: number | null): Promise<ExecutionResult> {
  if (budgetMs === null) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<ExecutionResult>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          staleMarked: 0,
          eventsSent: 0,
          succeededWorkspaceIds: [],
          failedWorkspaceIds: ['*'],
          errors: [`inline work exceeded ${budgetMs} ms`],
          unavailable: true,
        }),
      budgetMs,
    );
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
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
  if (!deps.db) return respond(503, { error: 'No database is configured (DATABASE_URL or VITE_SUPABASE_URL).' });

  try {
    if (!isSupportedEvent(headerInfo.event)) {
      const recorded = await recordDelivery(deps.db, {
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
    return await routeDelivery(parsed.delivery, deps, respond, () => now() - started);
  } catch (error) {
    if (error instanceof DatabaseUnavailableError) {
      deps.log?.({ msg: 'database unavailable', delivery: deliveryId, error: error.message });
      return respond(503, { error: 'The database is unavailable; redeliver this delivery later.' });
    }
    throw error;
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
    const result = await withinInlineBudget(
      executePlan(plan, { db, sender: deps.sender, concurrency: deps.config.drain.fanoutConcurrency }),
      sync ? null : INLINE_BUDGET_MS,
    );
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
    coalesce_key: delivery.event === 'push' && base.repositoryId !== null ? `push:${base.repositoryId}` : null,
  };
  const recorded: Recorded = await recordDelivery(db, { ...base, route: 'queued', statusCode: 202, responseMs: elapsed(), job });
  if (recorded.duplicate) return respond(200, { duplicate: true });
  if (recorded.jobId && deps.kickDrain) {
    const kick = deps.kickDrain(recorded.jobId).catch((error: unknown) => {
      deps.log?.({ msg: 'drain kick failed', jobId: recorded.jobId, error: errorMessage(error) });
    });
    if (deps.waitUntil) deps.waitUntil(kick);
  }
  return respond(202, { route: 'queued', jobId: recorded.jobId, coalesced: recorded.coalesced, workspaces: count });
}
