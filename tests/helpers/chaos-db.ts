// Database instruments for the reliability suite, installed in the per-file test database only.
import type { QueryFn } from '../../src/shared/db/sql.ts';

/**
 * An audit trigger on background_jobs: every status transition is appended to chaos_job_audit
 * with the lease owner before and after, so a test can count how many times each job reached
 * `completed` (exactly once is the contract) and which drain did it.
 */
export async function installJobAudit(query: QueryFn): Promise<void> {
  await query(
    `create table if not exists public.chaos_job_audit (
       seq bigserial primary key,
       job_id uuid not null,
       old_status text,
       new_status text not null,
       old_locked_by text,
       new_locked_by text,
       retry_count integer,
       error text,
       at timestamptz not null default clock_timestamp()
     )`,
    [],
  );
  await query(
    `create or replace function public.chaos_audit_job() returns trigger language plpgsql as $$
     begin
       if tg_op = 'INSERT' or new.status is distinct from old.status then
         insert into public.chaos_job_audit (job_id, old_status, new_status, old_locked_by, new_locked_by, retry_count, error)
         values (new.id, case when tg_op = 'UPDATE' then old.status end, new.status,
                 case when tg_op = 'UPDATE' then old.locked_by end, new.locked_by, new.retry_count, new.error);
       end if;
       return new;
     end $$`,
    [],
  );
  await query('drop trigger if exists chaos_audit_job on public.background_jobs', []);
  await query(
    `create trigger chaos_audit_job after insert or update on public.background_jobs
     for each row execute function public.chaos_audit_job()`,
    [],
  );
}

export interface AuditSummary {
  jobs: number;
  completions: number;
  jobsCompletedTwice: { job_id: string; n: number }[];
  /** Completions by the kind of drain that held the lease: `drain-…` (stack), `cli-…` (drain verb). */
  completionsByWorker: Record<string, number>;
  claims: number;
  leaseReclaims: number;
  statusCounts: Record<string, number>;
}

export async function auditSummary(query: QueryFn): Promise<AuditSummary> {
  const [jobs] = await query('select count(*)::int as n from public.background_jobs', []);
  const twice = await query(
    `select job_id::text, count(*)::int as n from public.chaos_job_audit where new_status = 'completed'
     group by job_id having count(*) > 1 order by n desc limit 20`,
    [],
  );
  const [completions] = await query(`select count(*)::int as n from public.chaos_job_audit where new_status = 'completed'`, []);
  const byWorker = await query(
    `select split_part(coalesce(old_locked_by, '?'), '-', 1) as kind, count(*)::int as n
     from public.chaos_job_audit where new_status = 'completed' group by 1 order by 1`,
    [],
  );
  const [claims] = await query(`select count(*)::int as n from public.chaos_job_audit where new_status = 'processing'`, []);
  const [reclaims] = await query(
    `select count(*)::int as n from public.chaos_job_audit
     where old_status = 'processing' and new_status in ('queued', 'failed') and error like 'lease expired%'`,
    [],
  );
  const statuses = await query('select status, count(*)::int as n from public.background_jobs group by 1 order by 1', []);
  return {
    jobs: Number(jobs?.n ?? 0),
    completions: Number(completions?.n ?? 0),
    jobsCompletedTwice: twice.map((r) => ({ job_id: String(r.job_id), n: Number(r.n) })),
    completionsByWorker: Object.fromEntries(byWorker.map((r) => [String(r.kind), Number(r.n)])),
    claims: Number(claims?.n ?? 0),
    leaseReclaims: Number(reclaims?.n ?? 0),
    statusCounts: Object.fromEntries(statuses.map((r) => [String(r.status), Number(r.n)])),
  };
}

export async function pendingJobs(query: QueryFn): Promise<{ queued: number; processing: number; failed: number }> {
  const [row] = await query(
    `select count(*) filter (where status = 'queued')::int as queued,
            count(*) filter (where status = 'processing')::int as processing,
            count(*) filter (where status = 'failed')::int as failed
     from public.background_jobs`,
    [],
  );
  return { queued: Number(row?.queued ?? 0), processing: Number(row?.processing ?? 0), failed: Number(row?.failed ?? 0) };
}

export interface DeliveryRow {
  delivery_id: string;
  event: string;
  route: string;
  status_code: number;
  job_id: string | null;
  job_status: string | null;
  job_type: string | null;
  job_delivery_ids: string[] | null;
}

/** webhook_deliveries joined to background_jobs, for the GUIDs given (or all). */
export async function deliveryRows(query: QueryFn, guids?: string[]): Promise<DeliveryRow[]> {
  const rows = await query(
    `select d.delivery_id, d.event, d.route, d.status_code, d.job_id::text as job_id, j.status as job_status, j.type as job_type,
            (select array_agg(x) from jsonb_array_elements_text(j.payload -> 'delivery_ids') x) as job_delivery_ids
     from public.webhook_deliveries d left join public.background_jobs j on j.id = d.job_id
     where $1::text[] is null or d.delivery_id = any($1::text[])`,
    [guids ?? null],
  );
  return rows as unknown as DeliveryRow[];
}
