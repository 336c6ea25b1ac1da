import type { Config } from '../config.ts';
import type { Database } from '../db/port.ts';
import { errorMessage, NonRetriableError } from '../errors.ts';
import { isSupportedEvent } from '../github/events.ts';
import { executePlan } from '../handlers/execute.ts';
import { planWork, type WorkItem } from '../handlers/plan.ts';
import type { EventSender } from '../inngest/sender.ts';
import type { RoundGate } from './circuit.ts';
import { affectedWorkspaces, type ClaimedJob, type JobReport } from './jobs.ts';

export interface ProcessDeps {
  db: Database;
  sender: EventSender;
  settings: Pick<Config['drain'], 'fanoutConcurrency'>;
  gate: Pick<RoundGate, 'enter'>;
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
    commitCount: typeof p.commit_count === 'number' ? p.commit_count : null,
    workspaceIds,
  };
}

/**
 * Runs one claimed job and says what happened. It writes no outcome: the drain settles the whole
 * round in one statement, and SQL decides retries, dead letters and deferrals from these reports.
 */
export async function processJob(job: ClaimedJob, deps: ProcessDeps): Promise<JobReport> {
  let item: WorkItem;
  try {
    const probe = workItemOf(job, []);
    item = { ...probe, workspaceIds: await affectedWorkspaces(deps.db, probe.repository.id, probe.repository.fullName) };
  } catch (error) {
    if (!(error instanceof NonRetriableError)) throw error;
    return { kind: 'failed', error: error.message, retryable: false };
  }

  const plan = await planWork(item);
  if (plan.events.length > 0) {
    const admission = await deps.gate.enter();
    if (!admission.allowed) return { kind: 'deferred', until: admission.until.toISOString(), reason: admission.reason };
  }

  const result = await executePlan(plan, { db: deps.db, sender: deps.sender, concurrency: deps.settings.fanoutConcurrency });
  const summary = {
    workspaces: item.workspaceIds.length,
    deliveryIds: item.deliveryIds,
    cachesInvalidated: result.staleMarked,
    eventsSent: result.eventsSent,
  };
  if (result.failures.length === 0) return { kind: 'succeeded', result: summary, sent: result.eventsSent };

  const errors = result.failures.map((f) => f.error).join('; ') || errorMessage('fan-out failed');
  // Partial fan-out: the result says which workspaces are done; the next run re-sends everything
  // (Inngest drops ids it has seen; cache invalidation is idempotent).
  const partial = { ...summary, succeededWorkspaceIds: result.succeededWorkspaceIds, failedWorkspaceIds: result.failedWorkspaceIds };
  // Inngest's fault, not the job's: it waits without spending a retry, and the circuit counts it.
  // A refusal of this job's own events (another 4xx) is the job's failure and never the circuit's.
  if (result.failures.every((f) => f.cause !== 'job')) {
    const cause = result.failures.some((f) => f.cause === 'config') ? 'config' : 'outage';
    return { kind: 'unavailable', error: errors, cause, result: partial };
  }
  return { kind: 'failed', error: errors, retryable: true, result: partial };
}
