import { usableLeaseMs, type Config } from '../config.ts';
import type { Database } from '../db/port.ts';
import { errorMessage, NonRetriableError } from '../errors.ts';
import { forEachBounded } from '../handlers/execute.ts';
import { withTimeout } from '../timeout.ts';
import type { EventSender } from '../inngest/sender.ts';
import { Circuit, INNGEST_CIRCUIT } from './circuit.ts';
import { claimJobs, completeJobs, countPendingJobs, failJob, type ClaimedJob } from './jobs.ts';
import { processJob, type JobOutcome } from './process-job.ts';

export type DrainSettings = Config['drain'];

export interface DrainDeps {
  db: Database;
  sender: EventSender;
  settings: DrainSettings;
  /** Unique per drain invocation: the lease owner. */
  worker: string;
  /** Milliseconds; a fake clock in tests. */
  now?: () => number;
  log?: (entry: Record<string, unknown>) => void;
}

export interface DrainSummary {
  worker: string;
  claimed: number;
  completed: number;
  retried: number;
  failed: number;
  deferred: number;
  /**
   * Jobs this drain could not give an outcome: another drain took the lease over, or the database
   * refused the outcome. They run again once their lease expires.
   */
  lost: number;
  /** Jobs ready to run that this invocation left for the next one. */
  remaining: number;
  scheduled: number;
  stoppedForDeadline: boolean;
  elapsedMs: number;
}

/**
 * Claims and runs jobs until the queue is empty or the budget could not finish another job.
 * Every claimed job gets an outcome before the next claim. Nothing is left `processing` by a drain
 * that ends normally, unless the database refused the round's completion (those jobs are `lost`
 * to this drain); a crashed drain's leases, like those, expire and are claimed again.
 */
export async function drain(deps: DrainDeps, request: { jobId?: string } = {}): Promise<DrainSummary> {
  const now = deps.now ?? (() => Date.now());
  const started = now();
  // The budget is the platform's wall clock: keep a margin so the last outcome and the summary
  // are written before the runtime stops the function.
  const deadline = started + deps.settings.budgetMs - Math.min(10_000, deps.settings.budgetMs / 10);
  const circuit = new Circuit(deps.db, INNGEST_CIRCUIT, deps.worker, {
    failureThreshold: deps.settings.circuitFailureThreshold,
    cooldownSeconds: deps.settings.circuitCooldownSeconds,
  });
  const summary: DrainSummary = {
    worker: deps.worker,
    claimed: 0,
    completed: 0,
    retried: 0,
    failed: 0,
    deferred: 0,
    lost: 0,
    remaining: 0,
    scheduled: 0,
    stoppedForDeadline: false,
    elapsedMs: 0,
  };
  const tally: Record<JobOutcome['kind'], keyof DrainSummary> = {
    completed: 'completed',
    retried: 'retried',
    failed: 'failed',
    deferred: 'deferred',
    lost: 'lost',
  };

  for (let round = 1; ; round += 1) {
    // Claim only what could finish in the time left, even if every job ran to its timeout.
    // A batch's leases all start at the claim and its jobs are completed together at its end, so
    // the batch must also finish within the lease, less a margin for that completion: otherwise
    // its jobs would expire and be claimed (and run) a second time by another drain.
    const rounds = Math.min(
      Math.floor((deadline - now()) / deps.settings.jobTimeoutMs),
      Math.floor(usableLeaseMs(deps.settings.leaseSeconds) / deps.settings.jobTimeoutMs),
    );
    const limit = Math.min(request.jobId ? 1 : deps.settings.batchSize, rounds * deps.settings.concurrency);
    if (limit < 1) {
      summary.stoppedForDeadline = true;
      break;
    }
    // A lease owner per claim: a job that timed out here, was failed and claimed again by a later
    // round cannot be completed by its first, abandoned run (compare-and-set on the owner).
    const owner = `${deps.worker}#${round}`;
    const roundDeps = { ...deps, worker: owner };
    const jobs = await claimJobs(deps.db, {
      worker: owner,
      limit,
      leaseSeconds: deps.settings.leaseSeconds,
      ...(request.jobId ? { jobId: request.jobId } : {}),
    });
    if (jobs.length === 0) break;
    summary.claimed += jobs.length;

    const settle = (job: ClaimedJob, outcome: JobOutcome) => {
      (summary[tally[outcome.kind]] as number) += 1;
      deps.log?.({ msg: 'job', jobId: job.id, type: job.type, outcome: outcome.kind, ...outcome.detail });
    };
    const succeeded = new Map<string, Record<string, unknown>>();
    await forEachBounded(jobs, deps.settings.concurrency, async (job) => {
      const outcome = await withTimeout(processJob(job, { ...roundDeps, circuit }), deps.settings.jobTimeoutMs, () => {
        throw new Error(`job ${job.id} exceeded the ${deps.settings.jobTimeoutMs} ms job timeout`);
      }).catch(async (error: unknown) => recordCrash(roundDeps, job.id, error));
      if (outcome.kind === 'succeeded') succeeded.set(job.id, outcome.detail);
      else settle(job, outcome);
    });
    // One statement completes the round: a commit per job capped the drain at a few thousand
    // jobs/s (BENCHMARKS.md). A job missing from the answer lost its lease to another drain.
    if (succeeded.size > 0) {
      let completed = new Set<string>();
      let failure: string | null = null;
      try {
        completed = await completeRound(deps.db, owner, succeeded);
      } catch (error) {
        // The leases stay: the jobs run again once they expire (their Inngest ids repeat).
        failure = errorMessage(error);
      }
      for (const job of jobs) {
        const detail = succeeded.get(job.id);
        if (!detail) continue;
        settle(job, {
          kind: completed.has(job.id) ? 'completed' : 'lost',
          detail: failure ? { ...detail, error: failure } : detail,
        });
      }
    }
    if (request.jobId) break;
  }

  const pending = await countPendingJobs(deps.db);
  summary.remaining = pending.ready;
  summary.scheduled = pending.scheduled;
  summary.elapsedMs = Math.round(now() - started);
  return summary;
}

const COMPLETE_ATTEMPTS = 3;

/**
 * The round's work is done: losing its completion to a dropped connection would run every job
 * again (and spend a retry each) once the leases expire, so a failed call is tried twice more.
 */
async function completeRound(db: Database, owner: string, results: ReadonlyMap<string, unknown>): Promise<Set<string>> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await completeJobs(db, owner, results);
    } catch (error) {
      if (attempt >= COMPLETE_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/** An unexpected error (or timeout) still ends in an outcome: a retryable failure. */
async function recordCrash(deps: DrainDeps, jobId: string, error: unknown): Promise<JobOutcome> {
  const attempt = await failJob(deps.db, {
    jobId,
    worker: deps.worker,
    error: errorMessage(error),
    retryable: !(error instanceof NonRetriableError),
    baseDelaySeconds: deps.settings.retryBaseDelaySeconds,
    maxDelaySeconds: deps.settings.retryMaxDelaySeconds,
  }).catch(() => null);
  if (!attempt) return { kind: 'lost', detail: { error: errorMessage(error) } };
  return { kind: attempt.status === 'failed' ? 'failed' : 'retried', detail: { error: errorMessage(error) } };
}
