import type { Database } from '../db/port.ts';
import { DatabaseUnavailableError, errorMessage } from '../errors.ts';
import { parseDelivery, payloadText, readDeliveryHeaders, type Delivery } from '../github/delivery.ts';
import { isSupportedEvent } from '../github/events.ts';
import { verifySignature } from '../github/verify.ts';
import { chooseRoute, queuedWhenTracked } from '../routing/policy.ts';
import { withTimeout } from '../timeout.ts';
import { readBodyWithLimit, sha256Hex } from './body.ts';
import type { ReceiveDeps } from './deps.ts';
import { kick, newJob, queuedAnswer } from './enqueue.ts';
import { runInline, runSync, type Respond } from './inline.ts';
import { answer } from './respond.ts';
import { inspectDelivery, receiveQueued, recordDelivery, recordIfDuplicate, type DeliveryKey } from './store.ts';

export type { ReceiveDeps, ReceiveMode } from './deps.ts';

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/**
 * GitHub gives up after 10 s. Everything after the body is read shares this budget: database
 * calls that have not answered by then become a 503, so GitHub shows a failed delivery that can
 * be redelivered instead of a timeout.
 */
const RECEIVE_BUDGET_MS = 8_000;
const MAX_HEADER_LENGTH = 255;

function withDeadline(db: Database, deadline: () => number): Database {
  return {
    call: (fn, args) =>
      withTimeout(db.call(fn, args), deadline(), () => {
        throw new DatabaseUnavailableError(`${fn} did not answer within the receive budget`);
      }),
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
  const text = payloadText(request.headers.get('content-type'), rawBody);
  // A JSON body is its own payload text: hash the bytes received rather than encode it again.
  const payloadBytes = text === null ? null : text === rawBody ? bytes : utf8Encoder.encode(text);
  const key: DeliveryKey = { deliveryId, bodySha256: payloadBytes === null ? null : await (deps.hashBody ?? sha256Hex)(payloadBytes) };
  const bodyRead = now();
  const budget = deps.receiveBudgetMs ?? RECEIVE_BUDGET_MS;
  const scoped = { ...deps, db: withDeadline(deps.db, () => bodyRead + budget - now()) };

  try {
    if (!isSupportedEvent(headerInfo.event)) {
      // Recorded without its body's hash: an ignored delivery does no work, and a captured body
      // relabelled as an unknown event must not later pass for a duplicate of the real one.
      const recorded = await recordDelivery(scoped.db, {
        ...key,
        bodySha256: null,
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
    if (!parsed.ok) {
      // A body already received is a duplicate whatever its headers say: a captured delivery
      // relabelled as another event gets the same answer as one replayed under a new GUID.
      const known = await recordIfDuplicate(scoped.db, { ...key, event: headerInfo.event, responseMs: now() - started });
      return known ? respond(200, { duplicate: true }) : respond(400, { error: parsed.reason });
    }
    return await routeDelivery(parsed.delivery, key, scoped, respond, () => now() - started);
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


async function routeDelivery(
  delivery: Delivery,
  key: DeliveryKey,
  deps: ReceiveDeps,
  respond: Respond,
  elapsed: () => number,
): Promise<Response> {
  const db = deps.db as Database;
  const facts = {
    ...key,
    event: delivery.event,
    action: delivery.action,
    repository: delivery.repository?.fullName ?? null,
    repositoryId: delivery.repository?.id ?? null,
  };
  // A ping carries no workspace work: recorded and answered inline, one round trip, no count.
  if (delivery.event === 'ping') {
    const recorded = await recordDelivery(db, { ...facts, route: 'inline', statusCode: 200, responseMs: elapsed(), workspaceCount: null });
    return recorded.duplicate ? respond(200, { duplicate: true }) : respond(200, { route: 'inline', workspaces: 0, eventsSent: 0, cachesInvalidated: 0 });
  }
  // Most events need no count to be routed: one round trip records and queues them.
  if (deps.mode === 'hybrid' && queuedWhenTracked(delivery.event, deps.config)) {
    const received = await receiveQueued(db, {
      ...facts,
      responseMs: elapsed(),
      job: newJob(delivery, deps),
      kickHoldSeconds: deps.config.drain.kickHoldSeconds,
    });
    if (received.duplicate) return respond(200, { duplicate: true });
    if (received.route === 'no_workspace') return respond(200, { route: 'no_workspace', workspaces: 0, queued: false });
    kick(received, deps);
    return respond(202, queuedAnswer(delivery, received, received.workspaceCount ?? 0, deps));
  }

  const sync = deps.mode === 'sync';
  const inspection = await inspectDelivery(db, {
    ...key,
    repositoryId: facts.repositoryId,
    repository: facts.repository,
    // Inline work needs the ids; queued work looks them up when it runs.
    idLimit: sync ? 2_147_483_647 : deps.config.workspaceThreshold,
  });
  if (inspection.alreadyRecorded) {
    await recordIfDuplicate(db, { ...key, event: delivery.event, responseMs: elapsed() });
    return respond(200, { duplicate: true });
  }

  const count = inspection.workspaceCount;
  const route = sync && count > 0 ? 'inline' : chooseRoute(delivery.event, count, deps.config);
  const base = { ...facts, workspaceCount: count };

  if (route === 'no_workspace') {
    const recorded = await recordDelivery(db, { ...base, route, statusCode: 200, responseMs: elapsed() });
    if (recorded.duplicate) return respond(200, { duplicate: true });
    return respond(200, { route, workspaces: 0, queued: false });
  }

  if (route === 'inline') {
    const work = { delivery, facts: base, workspaceIds: inspection.workspaceIds ?? [], elapsed };
    return sync ? runSync(work, deps, respond) : runInline(work, deps, respond);
  }

  const recorded = await recordDelivery(db, {
    ...base,
    route: 'queued',
    statusCode: 202,
    responseMs: elapsed(),
    job: newJob(delivery, deps),
    kickHoldSeconds: deps.config.drain.kickHoldSeconds,
  });
  if (recorded.duplicate) return respond(200, { duplicate: true });
  kick(recorded, deps);
  return respond(202, queuedAnswer(delivery, recorded, count, deps));
}

