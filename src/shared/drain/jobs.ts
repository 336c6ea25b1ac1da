import type { Database } from '../db/port.ts';

/** A claimed row of background_jobs, as the drain reads it. */
export interface ClaimedJob {
  id: string;
  type: string;
  payload: Record<string, unknown>;
  retry_count: number;
  max_retries: number;
  repository: string | null;
  repository_github_id: string | number | null;
  locked_by: string;
}

export async function claimJobs(
  db: Database,
  input: { worker: string; limit: number; leaseSeconds: number; jobId?: string },
): Promise<ClaimedJob[]> {
  return db.call<ClaimedJob>('claim_webhook_jobs', {
    p_worker: input.worker,
    p_limit: input.limit,
    p_lease_seconds: input.leaseSeconds,
    p_job_id: input.jobId,
  });
}

/** False when the lease was lost (expired and taken by another drain): the outcome is not ours. */
export async function completeJob(db: Database, jobId: string, worker: string, result: unknown): Promise<boolean> {
  const [row] = await db.call<{ complete_webhook_job: boolean }>('complete_webhook_job', {
    p_job_id: jobId,
    p_worker: worker,
    p_result: result,
  });
  return row?.complete_webhook_job === true;
}

/**
 * Completes a round's jobs in one statement (job id → result). Returns the ids that were still
 * this worker's to complete; a job missing from it lost its lease to another drain.
 */
export async function completeJobs(db: Database, worker: string, results: ReadonlyMap<string, unknown>): Promise<Set<string>> {
  if (results.size === 0) return new Set();
  const rows = await db.call<{ id: string }>('complete_webhook_jobs', {
    p_worker: worker,
    p_results: Object.fromEntries(results),
  });
  return new Set(rows.map((r) => r.id));
}

export interface FailedAttempt {
  status: 'queued' | 'failed';
  retry_count: number;
  run_at: string;
}

/** Null when the lease was lost. */
export async function failJob(
  db: Database,
  input: {
    jobId: string;
    worker: string;
    error: string;
    retryable: boolean;
    result?: unknown;
    baseDelaySeconds: number;
    maxDelaySeconds: number;
  },
): Promise<FailedAttempt | null> {
  const [row] = await db.call<FailedAttempt>('fail_webhook_job', {
    p_job_id: input.jobId,
    p_worker: input.worker,
    p_error: input.error,
    p_retryable: input.retryable,
    p_result: input.result ?? null,
    p_base_delay_seconds: input.baseDelaySeconds,
    p_max_delay_seconds: input.maxDelaySeconds,
  });
  return row ?? null;
}

export async function deferJob(db: Database, jobId: string, worker: string, until: Date, reason: string): Promise<boolean> {
  const [row] = await db.call<{ defer_webhook_job: boolean }>('defer_webhook_job', {
    p_job_id: jobId,
    p_worker: worker,
    p_until: until.toISOString(),
    p_reason: reason,
  });
  return row?.defer_webhook_job === true;
}

export async function countPendingJobs(db: Database): Promise<{ ready: number; scheduled: number; processing: number }> {
  const [row] = await db.call<{ ready: string | number; scheduled: string | number; processing: string | number }>(
    'count_pending_webhook_jobs',
    {},
  );
  return { ready: Number(row?.ready ?? 0), scheduled: Number(row?.scheduled ?? 0), processing: Number(row?.processing ?? 0) };
}

export async function affectedWorkspaces(db: Database, repositoryId: number | null, repository: string | null): Promise<string[]> {
  const rows = await db.call<{ workspace_id: string }>('webhook_affected_workspaces', {
    p_repository_github_id: repositoryId,
    p_repository: repository,
  });
  return rows.map((r) => r.workspace_id);
}
