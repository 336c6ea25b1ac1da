import { seedRepository } from '../../src/node/seed.ts';
import { loadConfig } from '../../src/shared/config.ts';
import type { Database, SqlArgs, SqlFunction } from '../../src/shared/db/port.ts';
import type { QueryFn } from '../../src/shared/db/sql.ts';
import { drain, type DrainDeps, type DrainSettings, type DrainSummary } from '../../src/shared/drain/drain.ts';
import { settleJobs, type JobReport, type SettleSettings, type Settled } from '../../src/shared/drain/jobs.ts';
import type { OutgoingEvent } from '../../src/shared/inngest/events.ts';
import { InngestSendError, type EventSender } from '../../src/shared/inngest/sender.ts';

/**
 * The drain settings a deployment gets from an empty environment, with test overrides. A test
 * drain does not linger: it stops when nothing is ready (idleMs 0) and waits for no scheduled job
 * (waitSeconds 0) unless the test is about that.
 */
export function drainSettings(overrides: Partial<DrainSettings> = {}): DrainSettings {
  return { ...loadConfig({}).drain, idleMs: 0, waitSeconds: 0, ...overrides };
}

let workerSeq = 0;
export function newWorker(prefix = 'test-drain'): string {
  workerSeq += 1;
  return `${prefix}-${workerSeq}-${crypto.randomUUID().slice(0, 8)}`;
}

/** A log sink that keeps every entry, plus the per-job entries the drain writes. */
export function logSink(): { log: (entry: Record<string, unknown>) => void; entries: Record<string, unknown>[]; jobs(): Record<string, unknown>[] } {
  const entries: Record<string, unknown>[] = [];
  return { log: (entry) => entries.push(entry), entries, jobs: () => entries.filter((e) => e.msg === 'job') };
}

export type CallRecord = { fn: SqlFunction; args: SqlArgs; rows: unknown[] };

/**
 * Whether a call settles a round: on its own (settle_webhook_round), or together with the next
 * claim (webhook_drain_round with outcomes).
 */
export function settlesRound(fn: SqlFunction, args: SqlArgs): boolean {
  return fn === 'settle_webhook_round' || (fn === 'webhook_drain_round' && args.p_outcomes !== undefined);
}

export interface ClaimCall {
  owner: string;
  limit: number;
  /** The jobs it claimed (a combined call's row of unfinished outcomes is not one). */
  jobs: { id: string }[];
}
export interface SettleCall {
  owner: string;
  outcomes: Record<string, JobReport>;
}

export type SpyDatabase = Database & {
  calls: CallRecord[];
  callsTo(fn: SqlFunction): CallRecord[];
  /** Every claim, alone (claim_webhook_jobs) or after a settle (webhook_drain_round). */
  claims(): ClaimCall[];
  /** Every round settled, alone or with the next claim. */
  settles(): SettleCall[];
};

/** Passes every call through and records it, so a test can see what the drain asked for. */
export function spyDatabase(db: Database): SpyDatabase {
  const calls: CallRecord[] = [];
  return {
    calls,
    callsTo: (fn) => calls.filter((c) => c.fn === fn),
    claims: () =>
      calls
        .filter((c) => c.fn === 'claim_webhook_jobs' || c.fn === 'webhook_drain_round')
        .map((c) => ({
          owner: String(c.args.p_worker),
          limit: Number(c.args.p_limit),
          jobs: (c.rows as { id: string | null }[]).filter((r): r is { id: string } => r.id !== null),
        })),
    settles: () =>
      calls
        .filter((c) => settlesRound(c.fn, c.args))
        .map((c) => ({
          owner: String(c.fn === 'webhook_drain_round' ? c.args.p_settle_worker : c.args.p_worker),
          outcomes: c.args.p_outcomes as Record<string, JobReport>,
        })),
    async call<Row>(fn: SqlFunction, args: SqlArgs): Promise<Row[]> {
      const rows = await db.call<Row>(fn, args);
      calls.push({ fn, args, rows });
      return rows;
    },
  };
}

/**
 * A sender that records what it was asked to send; `fail(batch, call#)` decides which sends throw,
 * as Inngest answering `status` would (503 by default: an outage).
 */
export function stubSender(
  fail: (batch: OutgoingEvent[], call: number) => boolean = () => false,
  status = 503,
): EventSender & { calls: OutgoingEvent[][]; sent: OutgoingEvent[] } {
  const calls: OutgoingEvent[][] = [];
  const sent: OutgoingEvent[] = [];
  return {
    calls,
    sent,
    async send(events) {
      calls.push(structuredClone(events));
      if (fail(events, calls.length)) throw new InngestSendError(`stand-in: Inngest answered ${status}`, status, { attempts: 1 });
      sent.push(...structuredClone(events));
    },
  };
}

export function failingSender(status = 503): EventSender & { calls: OutgoingEvent[][]; sent: OutgoingEvent[] } {
  return stubSender(() => true, status);
}

/** Runs one drain with test defaults. */
export function runDrain(
  deps: Omit<DrainDeps, 'worker' | 'settings'> & { worker?: string; settings?: DrainSettings },
  request: { jobId?: string } = {},
): Promise<DrainSummary> {
  return drain({ ...deps, worker: deps.worker ?? newWorker(), settings: deps.settings ?? drainSettings() }, request);
}

let repoSeq = 0;
export type TestRepo = { fullName: string; githubId: number; repositoryId: string; workspaceIds: string[] };

/** A fresh repository tracked by `n` active workspaces; ids sorted as the drain reads them. */
export async function repoIn(query: QueryFn, n: number, tag = 'drain'): Promise<TestRepo> {
  repoSeq += 1;
  const repo = { fullName: `acme/${tag}-${process.pid}-${repoSeq}`, githubId: 5_000_000 + process.pid * 1000 + repoSeq };
  const seeded = await seedRepository(query, { ...repo, workspaces: n });
  return { ...repo, ...seeded, workspaceIds: [...seeded.workspaceIds].sort() };
}

/**
 * Inserts `count` valid queued jobs of `event` for `repo` in one statement. Payloads carry only
 * what the drain reads (event, action, delivery id, data.repository), like a receive-path job.
 */
export async function insertJobs(
  query: QueryFn,
  input: {
    repo: { fullName: string; githubId: number };
    count: number;
    event?: string;
    action?: string | null;
    priority?: number;
    maxRetries?: number;
    /** Seconds from now; negative is in the past. */
    runAtOffsetSeconds?: number;
  },
): Promise<string[]> {
  const event = input.event ?? 'issues';
  const rows = await query(
    `insert into public.background_jobs (type, payload, priority, max_retries, run_at, repository, repository_github_id)
     select 'webhook/' || $1::text,
            jsonb_build_object(
              'event', $1::text,
              'action', $2::text,
              'delivery_id', 'bulk-' || gen_random_uuid()::text,
              'data', jsonb_build_object(
                'action', $2::text,
                'repository', jsonb_build_object('id', $4::bigint, 'full_name', $3::text))),
            $5::int, $6::int, now() + make_interval(secs => $7::double precision), $3::text, $4::bigint
     from generate_series(1, $8::int) g
     returning id`,
    [
      event,
      input.action === undefined ? (event === 'push' ? null : 'opened') : input.action,
      input.repo.fullName,
      input.repo.githubId,
      input.priority ?? 10,
      input.maxRetries ?? 5,
      input.runAtOffsetSeconds ?? -1,
      input.count,
    ],
  );
  return rows.map((r) => String(r.id));
}

export async function jobRow(query: QueryFn, id: string): Promise<Record<string, any>> {
  const [row] = await query('select * from public.background_jobs where id = $1', [id]);
  if (!row) throw new Error(`no job ${id}`);
  return row;
}

export async function statusCounts(query: QueryFn): Promise<Record<string, number>> {
  const rows = await query('select status, count(*)::int as n from public.background_jobs group by status', []);
  return Object.fromEntries(rows.map((r) => [String(r.status), Number(r.n)]));
}

/** Empties the queue-side tables so each test starts from a known state in the file's database. */
export async function resetQueue(query: QueryFn): Promise<void> {
  await query(
    'truncate public.webhook_deliveries, public.background_jobs, public.webhook_circuit_breakers, public.workspace_metrics_cache',
    [],
  );
}

export async function dbNow(query: QueryFn): Promise<number> {
  const [row] = await query('select clock_timestamp() as t', []);
  return new Date(row?.t as string | Date).getTime();
}

export function ms(value: unknown): number {
  return new Date(value as string | Date).getTime();
}

// The drain reports outcomes through settle_webhook_round (settleJobs); these are its one-job shapes for tests.
const testSettle: SettleSettings = drainSettings();

export async function settleOne(
  db: Database,
  jobId: string,
  worker: string,
  report: JobReport,
  settings: Partial<SettleSettings> = {},
): Promise<Settled> {
  const settled = await settleJobs(db, worker, new Map([[jobId, report]]), { ...testSettle, ...settings });
  return settled.get(jobId) as Settled;
}

/** True when the job was still this worker's and is now completed. */
export async function completeJob(db: Database, jobId: string, worker: string, result: unknown): Promise<boolean> {
  const report = { kind: 'succeeded', result, sent: 0 } as JobReport;
  return (await settleOne(db, jobId, worker, report)).outcome === 'completed';
}

/** The settled row, or null when the job was no longer this worker's. */
export async function failJob(
  db: Database,
  input: {
    jobId: string;
    worker: string;
    error: string;
    retryable: boolean;
    result?: Record<string, unknown>;
    baseDelaySeconds?: number;
    maxDelaySeconds?: number;
  },
): Promise<Settled | null> {
  const settled = await settleOne(
    db,
    input.jobId,
    input.worker,
    { kind: 'failed', error: input.error, retryable: input.retryable, ...(input.result ? { result: input.result } : {}) },
    {
      ...(input.baseDelaySeconds !== undefined ? { retryBaseDelaySeconds: input.baseDelaySeconds } : {}),
      ...(input.maxDelaySeconds !== undefined ? { retryMaxDelaySeconds: input.maxDelaySeconds } : {}),
    },
  );
  return settled.outcome === 'lost' ? null : settled;
}

export async function deferJob(db: Database, jobId: string, worker: string, until: Date, reason: string): Promise<boolean> {
  return (await settleOne(db, jobId, worker, { kind: 'deferred', until: until.toISOString(), reason })).outcome === 'deferred';
}

/** Completes several jobs in one settle call; returns the ids that were still this worker's. */
export async function completeJobs(db: Database, worker: string, results: ReadonlyMap<string, unknown>): Promise<Set<string>> {
  const reports = new Map<string, JobReport>([...results].map(([id, result]) => [id, { kind: 'succeeded', result, sent: 0 } as JobReport]));
  const settled = await settleJobs(db, worker, reports, testSettle);
  return new Set([...settled.values()].filter((s) => s.outcome === 'completed').map((s) => s.id));
}

/** No drain running: an earlier test's kick holds the marker for DRAIN_KICK_HOLD_SECONDS. */
export async function freeDrainMarker(query: QueryFn): Promise<void> {
  await query('update public.webhook_drain_marker set held_by = null, held_until = null', []);
}
