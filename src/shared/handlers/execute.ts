import type { Database } from '../db/port.ts';
import type { OutgoingEvent } from '../inngest/events.ts';
import { InngestSendError, type EventSender } from '../inngest/sender.ts';
import { errorMessage } from '../errors.ts';
import type { WorkPlan } from './plan.ts';

/**
 * Whose fault a failed effect is, which decides what happens next:
 * - `outage`: Inngest unreachable, 5xx or 429 — the dependency is down; the job waits (no retry
 *   spent) and the circuit counts it;
 * - `config`: Inngest answered 401/403 — our event key is wrong; the circuit opens at once and
 *   shows the error, the job waits for the fix;
 * - `job`: anything else (another 4xx, an oversized event, a database error) — this job's own
 *   failure: retried with backoff, then dead-lettered. It never touches the circuit, so one bad
 *   event cannot stop everyone's.
 */
export type FailureCause = 'outage' | 'config' | 'job';

export interface EffectFailure {
  cause: FailureCause;
  error: string;
}

export interface ExecutionResult {
  staleMarked: number;
  eventsSent: number;
  /** Workspaces whose every effect is done. */
  succeededWorkspaceIds: string[];
  failedWorkspaceIds: string[];
  failures: EffectFailure[];
}

export function failureCause(error: unknown): FailureCause {
  if (!(error instanceof InngestSendError)) return 'job';
  const { status } = error;
  if (status === undefined || status >= 500 || status === 429) return 'outage';
  if (status === 401 || status === 403) return 'config';
  return 'job';
}

export interface ExecuteOptions {
  db: Database;
  sender: EventSender;
  /** Events per send call; Inngest accepts a JSON array per request. */
  batchSize?: number;
  /** Send calls in flight at once: fan-out in parallel, but bounded. */
  concurrency?: number;
}

/** Runs `task` over `items` with at most `limit` in flight; never rejects. */
export async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<PromiseSettledResult<void>[]> {
  const results: PromiseSettledResult<void>[] = new Array(items.length);
  // At least one worker: with none, every item would be skipped and reported as nothing at all.
  const workers = Math.max(1, Math.floor(limit));
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      try {
        await task(items[index] as T);
        results[index] = { status: 'fulfilled', value: undefined };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(workers, items.length) }, worker));
  return results;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

function workspaceOf(event: OutgoingEvent): string {
  return String(event.data.workspaceId);
}

/**
 * Applies a plan: cache invalidation in one round trip (the host's function per workspace),
 * events in batched sends run in parallel up to `concurrency`. Reports per workspace, so a
 * partial failure says which workspaces are done; a retry re-sends everything and Inngest drops
 * the ids it already has.
 */
export async function executePlan(plan: WorkPlan, options: ExecuteOptions): Promise<ExecutionResult> {
  const failed = new Set<string>();
  const failures: EffectFailure[] = [];
  let staleMarked = 0;
  if (plan.staleWorkspaceIds.length > 0) {
    try {
      await options.db.call('mark_workspaces_cache_stale', { p_workspace_ids: plan.staleWorkspaceIds });
      staleMarked = plan.staleWorkspaceIds.length;
    } catch (error) {
      plan.staleWorkspaceIds.forEach((id) => failed.add(id));
      failures.push({ cause: 'job', error: `cache invalidation: ${errorMessage(error)}` });
    }
  }

  const batches = chunk(plan.events, options.batchSize ?? 100);
  let eventsSent = 0;
  const outcomes = await forEachBounded(batches, options.concurrency ?? 8, async (batch) => {
    await options.sender.send(batch);
    eventsSent += batch.length;
  });
  outcomes.forEach((outcome, i) => {
    if (outcome.status === 'rejected') {
      batches[i]?.forEach((event) => failed.add(workspaceOf(event)));
      failures.push({ cause: failureCause(outcome.reason), error: `inngest send: ${errorMessage(outcome.reason)}` });
    }
  });

  const all = new Set([...plan.staleWorkspaceIds, ...plan.events.map(workspaceOf)]);
  return {
    staleMarked,
    eventsSent,
    succeededWorkspaceIds: [...all].filter((id) => !failed.has(id)),
    failedWorkspaceIds: [...failed],
    failures,
  };
}
