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
}

export interface ClaimRequest {
  worker: string;
  limit: number;
  leaseSeconds: number;
  jobId?: string;
  /** Keep the drain marker for this long (a `{}` drain; see take_drain_kick). */
  marker?: { holder: string; holdSeconds: number };
}

function claimArgs(input: ClaimRequest) {
  return {
    p_worker: input.worker,
    p_limit: input.limit,
    p_lease_seconds: input.leaseSeconds,
    p_job_id: input.jobId,
    p_marker_holder: input.marker?.holder,
    p_marker_hold_seconds: input.marker?.holdSeconds,
  };
}

export async function claimJobs(db: Database, input: ClaimRequest): Promise<ClaimedJob[]> {
  return db.call<ClaimedJob>('claim_webhook_jobs', claimArgs(input));
}

/**
 * What happened to a job, as the drain reports it to settle_webhook_round, which alone decides the
 * job's fate (see that function's comment).
 */
export type JobReport =
  | { kind: 'succeeded'; result: Record<string, unknown>; sent: number }
  | { kind: 'failed'; error: string; retryable: boolean; result?: Record<string, unknown> }
  | { kind: 'unavailable'; error: string; cause: 'outage' | 'config'; result?: Record<string, unknown> }
  | { kind: 'deferred'; until: string; reason: string };

export type SettledOutcome = 'completed' | 'retried' | 'failed' | 'deferred' | 'lost';

/** A completed job's run_at and retry_count are not read back (null). */
export interface Settled {
  id: string;
  outcome: SettledOutcome;
  status: string | null;
  run_at: string | null;
  retry_count: number | null;
}

export interface SettleSettings {
  retryBaseDelaySeconds: number;
  retryMaxDelaySeconds: number;
  circuitFailureThreshold: number;
  circuitCooldownSeconds: number;
}

/** Settles a claimed round in one statement; returns every listed job's outcome. */
export async function settleJobs(
  db: Database,
  worker: string,
  reports: ReadonlyMap<string, JobReport>,
  settings: SettleSettings,
): Promise<Map<string, Settled>> {
  if (reports.size === 0) return new Map();
  // Only the jobs that did not complete come back: a round that went well returns nothing to parse.
  const rows = await db.call<Settled>('settle_webhook_round', {
    p_worker: worker,
    p_outcomes: Object.fromEntries(reports),
    ...settleArgs(settings),
  });
  const settled = new Map<string, Settled>();
  for (const id of reports.keys()) settled.set(id, { id, outcome: 'completed', status: 'completed', run_at: null, retry_count: null });
  for (const row of rows) settled.set(row.id, row);
  return settled;
}

function settleArgs(settings: SettleSettings) {
  return {
    p_base_delay_seconds: settings.retryBaseDelaySeconds,
    p_max_delay_seconds: settings.retryMaxDelaySeconds,
    p_failure_threshold: settings.circuitFailureThreshold,
    p_cooldown_seconds: settings.circuitCooldownSeconds,
  };
}

/** A round's outcomes, reported by the lease owner that ran it. */
export interface RoundReports {
  owner: string;
  reports: ReadonlyMap<string, JobReport>;
}

type RoundRow = ClaimedJob & { unfinished: Record<string, SettledOutcome> | null };

/**
 * Settles the round just run (if any) and claims the next, in one call and one transaction
 * (webhook_drain_round). `settled` gives every reported job its outcome (empty when nothing was
 * reported). If the call fails, neither happened.
 */
export async function settleAndClaim(
  db: Database,
  settings: SettleSettings,
  claim: ClaimRequest,
  previous: RoundReports | null,
): Promise<{ jobs: ClaimedJob[]; settled: Map<string, SettledOutcome> }> {
  const reports = previous?.reports ?? new Map<string, JobReport>();
  const rows = await db.call<RoundRow>('webhook_drain_round', {
    ...claimArgs(claim),
    ...(previous && reports.size > 0
      ? { p_settle_worker: previous.owner, p_outcomes: Object.fromEntries(reports), ...settleArgs(settings) }
      : {}),
  });
  const unfinished = rows.find((row) => row.id === null)?.unfinished ?? {};
  const jobs: ClaimedJob[] = [];
  for (const { unfinished: _, ...job } of rows) if (job.id !== null) jobs.push(job);
  const settled = new Map<string, SettledOutcome>();
  for (const id of reports.keys()) settled.set(id, unfinished[id] ?? 'completed');
  return { jobs, settled };
}

export interface Pending {
  ready: number;
  scheduled: number;
  processing: number;
  /** When the next scheduled job becomes ready. */
  nextRunAt: Date | null;
}

type PendingRow = {
  ready: string | number;
  scheduled: string | number;
  processing: string | number;
  next_run_at: string | Date | null;
};

function pendingOf(row: PendingRow | undefined): Pending {
  return {
    ready: Number(row?.ready ?? 0),
    scheduled: Number(row?.scheduled ?? 0),
    processing: Number(row?.processing ?? 0),
    nextRunAt: row?.next_run_at ? new Date(row.next_run_at) : null,
  };
}

export async function countPendingJobs(db: Database): Promise<Pending> {
  const [row] = await db.call<PendingRow>('count_pending_webhook_jobs', {});
  return pendingOf(row);
}

/**
 * Hands the drain marker back (if `holder` still has it) and counts what is pending after every
 * enqueue that saw the marker held has committed: a job in this count is this drain's to run.
 */
export async function releaseDrainMarker(db: Database, holder: string): Promise<Pending> {
  const [row] = await db.call<PendingRow>('release_drain_marker', { p_worker: holder });
  return pendingOf(row);
}

export async function affectedWorkspaces(db: Database, repositoryId: number | null, repository: string | null): Promise<string[]> {
  const rows = await db.call<{ workspace_id: string }>('webhook_affected_workspaces', {
    p_repository_github_id: repositoryId,
    p_repository: repository,
  });
  return rows.map((r) => r.workspace_id);
}
