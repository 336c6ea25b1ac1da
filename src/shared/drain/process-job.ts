import type { Database } from '../db/port.ts';
import { errorMessage, NonRetriableError } from '../errors.ts';
import { isSupportedEvent } from '../github/events.ts';
import { executePlan } from '../handlers/execute.ts';
import { planWork, type WorkItem } from '../handlers/plan.ts';
import type { EventSender } from '../inngest/sender.ts';
import type { Circuit } from './circuit.ts';
import type { DrainSettings } from './drain.ts';
import { affectedWorkspaces, deferJob, failJob, type ClaimedJob } from './jobs.ts';

export interface JobOutcome {
  kind: 'completed' | 'retried' | 'failed' | 'deferred' | 'lost';
  detail: Record<string, unknown>;
}

/**
 * What running a job returns: an outcome already written, or `succeeded` — the work is done and
 * the drain completes the job together with the rest of its claimed round (one statement).
 */
export type ProcessResult = JobOutcome | { kind: 'succeeded'; detail: Record<string, unknown> };

export interface ProcessDeps {
  db: Database;
  sender: EventSender;
  settings: DrainSettings;
  worker: string;
  circuit: Circuit;
}

/** Reads a job's payload into a work item; a payload that can never work is NonRetriable. */
export function workItemOf(job: ClaimedJob, workspaceIds: string[]): WorkItem {
  const p = job.payload ?? {};
  const event = p.event;
  if (typeof event !== 'string' || !isSupportedEvent(event) || job.type !== `webhook/${event}`) {
    throw new NonRetriableError(`malformed job: type ${job.type} with payload.event ${String(event)}`);
  }
  const data = p.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new NonRetriableError('malformed job: payload.data is not an object');
  }
  const deliveryIds = Array.isArray(p.delivery_ids) ? p.delivery_ids.map(String) : [];
  if (typeof p.delivery_id === 'string' && !deliveryIds.includes(p.delivery_id)) deliveryIds.unshift(p.delivery_id);
  if (deliveryIds.length === 0) throw new NonRetriableError('malformed job: no delivery id');
  const repo = (data as Record<string, unknown>).repository as Record<string, unknown> | undefined;
  const githubId = job.repository_github_id ?? repo?.id ?? null;
  return {
    event,
    action: typeof p.action === 'string' ? p.action : null,
    // A push job may have absorbed several deliveries: its events are the job's, once.
    source: event === 'push' ? job.id : (deliveryIds[0] as string),
    deliveryIds,
    repository: {
      id: githubId === null ? null : Number(githubId),
      fullName: job.repository ?? (typeof repo?.full_name === 'string' ? repo.full_name : null),
    },
    data: data as Record<string, unknown>,
    workspaceIds,
  };
}

export async function processJob(job: ClaimedJob, deps: ProcessDeps): Promise<ProcessResult> {
  const backoff = {
    baseDelaySeconds: deps.settings.retryBaseDelaySeconds,
    maxDelaySeconds: deps.settings.retryMaxDelaySeconds,
  };
  let item: WorkItem;
  try {
    const probe = workItemOf(job, []);
    item = { ...probe, workspaceIds: await affectedWorkspaces(deps.db, probe.repository.id, probe.repository.fullName) };
  } catch (error) {
    if (!(error instanceof NonRetriableError)) throw error;
    await failJob(deps.db, { jobId: job.id, worker: deps.worker, error: error.message, retryable: false, ...backoff });
    return { kind: 'failed', detail: { error: error.message } };
  }

  const plan = await planWork(item);
  let permit: Awaited<ReturnType<Circuit['acquire']>> | null = null;
  if (plan.events.length > 0) {
    permit = await deps.circuit.acquire();
    if (!permit.allowed) {
      const until = permit.retryAt ?? new Date(Date.now() + deps.settings.circuitCooldownSeconds * 1000);
      const held = await deferJob(deps.db, job.id, deps.worker, until, `Inngest circuit ${permit.state}; deferred`);
      return { kind: held ? 'deferred' : 'lost', detail: { until: until.toISOString() } };
    }
  }

  const result = await executePlan(plan, {
    db: deps.db,
    sender: deps.sender,
    concurrency: deps.settings.fanoutConcurrency,
  });
  const summary = {
    workspaces: item.workspaceIds.length,
    deliveryIds: item.deliveryIds,
    cachesInvalidated: result.staleMarked,
    eventsSent: result.eventsSent,
  };

  // Only Inngest being unreachable counts against the circuit; a success is reported only when
  // an event really reached Inngest (a sender bug proves nothing about the dependency).
  const sendFailed = result.unavailable;
  const reachedInngest = !sendFailed && result.eventsSent > 0;
  if (permit && (sendFailed || (reachedInngest && (permit.state !== 'closed' || permit.consecutiveFailures > 0)))) {
    const after = await deps.circuit.report(!sendFailed, sendFailed ? result.errors.join('; ') : undefined);
    if (sendFailed && after.state === 'open' && after.retryAt) {
      // The dependency is down, not the job: wait for the half-open probe without spending a retry.
      const held = await deferJob(deps.db, job.id, deps.worker, after.retryAt, `Inngest unavailable: ${result.errors.join('; ')}`);
      return { kind: held ? 'deferred' : 'lost', detail: { until: after.retryAt.toISOString() } };
    }
  }
  if (sendFailed && job.retry_count + 1 > job.max_retries) {
    // Retries can run out before the failures open the circuit (few jobs, max_retries below
    // the threshold): an outage must not dead-letter the job, so it waits a cooldown instead.
    const until = new Date(Date.now() + deps.settings.circuitCooldownSeconds * 1000);
    const held = await deferJob(
      deps.db,
      job.id,
      deps.worker,
      until,
      `Inngest unavailable (retries spent, waiting for Inngest): ${result.errors.join('; ')}`,
    );
    return { kind: held ? 'deferred' : 'lost', detail: { until: until.toISOString() } };
  }

  if (result.failedWorkspaceIds.length === 0) return { kind: 'succeeded', detail: summary };

  // Partial fan-out: the job failed; its result says which workspaces are done, and the retry
  // re-sends everything (Inngest drops ids it has seen; cache invalidation is idempotent).
  const attempt = await failJob(deps.db, {
    jobId: job.id,
    worker: deps.worker,
    error: result.errors.join('; ') || errorMessage('fan-out failed'),
    retryable: true,
    result: {
      ...summary,
      succeededWorkspaceIds: result.succeededWorkspaceIds,
      failedWorkspaceIds: result.failedWorkspaceIds,
    },
    ...backoff,
  });
  if (!attempt) return { kind: 'lost', detail: summary };
  return { kind: attempt.status === 'failed' ? 'failed' : 'retried', detail: { ...summary, errors: result.errors } };
}
