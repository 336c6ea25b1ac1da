import { usableLeaseMs, type Config } from '../config.ts';
import type { Database } from '../db/port.ts';
import { errorMessage, NonRetriableError } from '../errors.ts';
import { forEachBounded } from '../handlers/execute.ts';
import type { EventSender } from '../inngest/sender.ts';
import { withTimeout } from '../timeout.ts';
import { Circuit, INNGEST_CIRCUIT, RoundGate } from './circuit.ts';
import {
  claimJobs,
  countPendingJobs,
  releaseDrainMarker,
  settleAndClaim,
  settleJobs,
  type ClaimedJob,
  type JobReport,
  type Pending,
  type RoundReports,
  type SettledOutcome,
} from './jobs.ts';
import { processJob } from './process-job.ts';
import { pruneOldRows } from './retention.ts';

export type DrainSettings = Config['drain'];

export interface DrainDeps {
  db: Database;
  sender: EventSender;
  settings: DrainSettings;
  /** Unique per drain invocation: the marker holder, and the prefix of each round's lease owner. */
  worker: string;
  /** Milliseconds; a fake clock in tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: (entry: Record<string, unknown>) => void;
  /** Called once, after the first claim, with the number of jobs it took (an early answer). */
  onFirstClaim?: (claimed: number) => void;
  /**
   * Starts the next drain when this one stops at DRAIN_MAX_JOBS with jobs still ready, so they
   * need not wait for the next delivery's kick or the minute sweep. Must not throw.
   */
  handOver?: () => Promise<void>;
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
  /** Stopped at DRAIN_MAX_JOBS (a CPU budget) and handed the rest to a new drain. */
  handedOver: boolean;
  /** Old rows removed by retention at the end of the run. */
  pruned: number;
  elapsedMs: number;
}

/** How often an idle drain looks for new jobs, and the shortest pause between two looks. */
const IDLE_POLL_MS = 100;
const MIN_POLL_MS = 25;

/**
 * Claims and runs jobs until nothing is left to do or the budget could not finish another job.
 * A `{}` drain holds the drain marker while it runs (so a burst of enqueues kicks it once), keeps
 * polling an empty queue for DRAIN_IDLE_MS, and waits up to DRAIN_WAIT_SECONDS for a scheduled job
 * (a debounced push) instead of leaving it to the minute sweep. Every claimed job gets its outcome
 * in the call that claims the next round (or on its own when none follows); a crashed drain's
 * leases expire and are claimed again.
 */
export async function drain(deps: DrainDeps, request: { jobId?: string } = {}): Promise<DrainSummary> {
  const now = deps.now ?? (() => Date.now());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const { settings } = deps;
  const started = now();
  // The budget is the platform's wall clock: keep a margin so the last outcome and the summary
  // are written before the runtime stops the function.
  const deadline = started + settings.budgetMs - Math.min(10_000, settings.budgetMs / 10);
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
    handedOver: false,
    pruned: 0,
    elapsedMs: 0,
  };
  // Held for as long as a round may take (the lease), refreshed at each claim: a round waiting on a
  // slow Inngest must not let the marker lapse and every new delivery kick another drain into the
  // same wait. A drain that dies leaves it until then; the minute sweep drains meanwhile.
  const marker = request.jobId ? undefined : { holder: deps.worker, holdSeconds: Math.max(settings.kickHoldSeconds, settings.leaseSeconds) };
  let firstClaim = deps.onFirstClaim;
  let atMaxJobs = false;
  let idleSince: number | null = null;
  let pending: Pending | null = null;
  let released = false;

  // The round just run: settled by the next claim's call, or on its own when there is none.
  let unsettled: RanRound | null = null;

  try {
    for (let round = 1; ; round += 1) {
      const jobsLeft = settings.maxJobs - summary.claimed;
      const limit = Math.min(claimLimit(settings, deadline - now(), request.jobId !== undefined), jobsLeft);
      if (limit < 1) {
        if (jobsLeft < 1) atMaxJobs = true;
        else summary.stoppedForDeadline = true;
        break;
      }
      // A lease owner per claim: a job that timed out here, was failed and claimed again by a
      // later round cannot be completed by its first, abandoned run (compare-and-set on the owner).
      const owner = `${deps.worker}#${round}`;
      const claim = {
        worker: owner,
        limit,
        leaseSeconds: settings.leaseSeconds,
        ...(request.jobId ? { jobId: request.jobId } : {}),
        ...(marker ? { marker } : {}),
      };
      let jobs: ClaimedJob[];
      const previous = unsettled;
      unsettled = null;
      if (previous) {
        let answer: Awaited<ReturnType<typeof settleAndClaim>>;
        try {
          answer = await settleAndClaim(deps.db, settings, claim, previous);
        } catch (error) {
          // Neither happened (or, if only the answer was lost, the settle below finds the round
          // settled and reports it lost, and the jobs that call claimed wait for their lease).
          // Settle on its own, with its retries; then the next pass works out its limit afresh
          // (the settle may have taken seconds) and claims on its own.
          deps.log?.({ msg: 'settle with the next claim failed; settling on its own', worker: deps.worker, error: errorMessage(error) });
          await settleAlone(deps, previous, summary);
          continue;
        }
        recordRound(deps, previous, answer.settled, null, summary);
        jobs = answer.jobs;
      } else {
        jobs = await claimJobs(deps.db, claim);
      }
      firstClaim?.(jobs.length);
      firstClaim = undefined;
      released = false;
      if (jobs.length > 0) {
        idleSince = null;
        pending = null;
        summary.claimed += jobs.length;
        unsettled = await runRound(deps, owner, jobs);
        if (request.jobId) break;
        continue;
      }
      if (request.jobId) break;

      // Nothing ready. Wait for a job scheduled soon, or poll a while for new ones; then hand the
      // marker back and stop, unless jobs turned up meanwhile.
      idleSince ??= now();
      pending ??= await countPendingJobs(deps.db);
      const waitFor = nextWithin(pending, now(), settings.waitSeconds * 1000, deadline);
      if (waitFor === null && now() - idleSince >= settings.idleMs) {
        pending = await releaseDrainMarker(deps.db, deps.worker);
        released = true;
        if (pending.ready === 0 && nextWithin(pending, now(), settings.waitSeconds * 1000, deadline) === null) break;
        idleSince = now();
        continue;
      }
      // Never less than a few ms: this clock may run ahead of the database's, which decides when a
      // scheduled job is ready, and a zero wait would spin on claims until the clocks agree.
      const untilNext = waitFor === null ? IDLE_POLL_MS : waitFor - now();
      await sleep(Math.min(IDLE_POLL_MS, Math.max(MIN_POLL_MS, untilNext)));
      if (waitFor !== null && now() >= waitFor) pending = null;
    }
  } finally {
    if (unsettled) await settleAlone(deps, unsettled, summary);
    if (marker && !released) await releaseDrainMarker(deps.db, deps.worker).catch(() => null);
  }

  if (!request.jobId) {
    // Housekeeping: a failure here must not fail the drain whose jobs are already settled.
    summary.pruned = await pruneOldRows(deps.db, settings.retention, Math.min(2_000, deadline - now()), now).catch((error: unknown) => {
      deps.log?.({ msg: 'prune failed', worker: deps.worker, error: errorMessage(error) });
      return 0;
    });
  }
  const left = await countPendingJobs(deps.db);
  summary.remaining = left.ready;
  summary.scheduled = left.scheduled;
  // The marker is free again, so a delivery would kick too; handing over makes sure someone does.
  summary.handedOver = atMaxJobs && left.ready > 0;
  if (summary.handedOver) await deps.handOver?.();
  summary.elapsedMs = Math.round(now() - started);
  return summary;
}

/**
 * Claim only what could finish in the time left, even if every job ran to its timeout. A round's
 * leases all start at the claim and its jobs are settled together at its end, so the round must
 * also finish within the lease, less a margin for settling: otherwise its jobs would expire and
 * be claimed (and run) a second time by another drain.
 */
function claimLimit(settings: DrainSettings, timeLeftMs: number, oneJob: boolean): number {
  const rounds = Math.min(
    Math.floor(timeLeftMs / settings.jobTimeoutMs),
    Math.floor(usableLeaseMs(settings.leaseSeconds) / settings.jobTimeoutMs),
  );
  return Math.min(oneJob ? 1 : settings.batchSize, rounds * settings.concurrency);
}

/** When the next scheduled job is ready, if that is within `windowMs` and before the deadline. */
function nextWithin(pending: Pending, nowMs: number, windowMs: number, deadline: number): number | null {
  const at = pending.nextRunAt?.getTime();
  if (at === undefined || at - nowMs > windowMs || at >= deadline) return null;
  return at;
}

/** A round that ran: its outcomes to settle, and each job's type for the log. */
interface RanRound extends RoundReports {
  types: ReadonlyMap<string, string>;
}

/** Runs a claimed round and returns its outcomes, to be settled with the next claim. */
async function runRound(deps: DrainDeps, owner: string, jobs: ClaimedJob[]): Promise<RanRound> {
  const { settings } = deps;
  const circuit = new Circuit(deps.db, INNGEST_CIRCUIT, owner, {
    probeTimeoutSeconds: Math.max(settings.circuitCooldownSeconds, Math.ceil(settings.jobTimeoutMs / 1000)),
  });
  const gate = new RoundGate(circuit, settings.circuitCooldownSeconds);
  const reports = new Map<string, JobReport>();
  await forEachBounded(jobs, settings.concurrency, async (job) => {
    const progress = { sending: false };
    const timedOut = () => `job ${job.id} exceeded the ${settings.jobTimeoutMs} ms job timeout`;
    const report = await withTimeout(processJob(job, { ...deps, gate, progress }), settings.jobTimeoutMs, (): JobReport =>
      // Still sending when time ran out: Inngest is hanging, an outage (the circuit counts it), not
      // this job's fault — it must not spend its retries and reach the dead letter for it.
      progress.sending
        ? { kind: 'unavailable', error: `${timedOut()} while sending to Inngest`, cause: 'outage' }
        : { kind: 'failed', error: timedOut(), retryable: true },
    ).catch((error: unknown): JobReport => ({
      kind: 'failed',
      error: errorMessage(error),
      retryable: !(error instanceof NonRetriableError),
    }));
    reports.set(job.id, report);
  });
  return { owner, reports, types: new Map(jobs.map((job) => [job.id, job.type])) };
}

/** Settles a round with no claim after it (the drain is stopping, or the combined call failed). */
async function settleAlone(deps: DrainDeps, round: RanRound, summary: DrainSummary): Promise<void> {
  let settled = new Map<string, SettledOutcome>();
  let failure: string | null = null;
  try {
    settled = await settleRound(deps.db, round.owner, round.reports, deps.settings);
  } catch (error) {
    // The leases stay: the jobs run again once they expire (their Inngest ids repeat).
    failure = errorMessage(error);
  }
  recordRound(deps, round, settled, failure, summary);
}

function recordRound(
  deps: DrainDeps,
  round: RanRound,
  settled: ReadonlyMap<string, SettledOutcome>,
  failure: string | null,
  summary: DrainSummary,
): void {
  // In claim order, as the jobs were started.
  for (const [id, type] of round.types) {
    const outcome = settled.get(id) ?? 'lost';
    summary[outcome] += 1;
    const report = round.reports.get(id);
    deps.log?.({
      msg: 'job',
      jobId: id,
      type,
      outcome,
      ...(report?.kind === 'succeeded' ? report.result : {}),
      ...(report && 'error' in report ? { error: report.error } : {}),
      ...(failure ? { error: failure } : {}),
    });
  }
}

const SETTLE_ATTEMPTS = 3;

/**
 * The round's work is done: losing its outcomes to a dropped connection would run every job
 * again (and spend a retry each) once the leases expire, so a failed call is tried twice more.
 */
async function settleRound(
  db: Database,
  owner: string,
  reports: ReadonlyMap<string, JobReport>,
  settings: DrainSettings,
): Promise<Map<string, SettledOutcome>> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const settled = await settleJobs(db, owner, reports, settings);
      return new Map([...settled].map(([id, s]) => [id, s.outcome]));
    } catch (error) {
      if (attempt >= SETTLE_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
