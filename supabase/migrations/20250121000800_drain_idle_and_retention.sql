-- webhook-router: what a drain reads when it has nothing to do, how it hands the marker back,
-- retention, and monitoring functions that stay on indexes as the tables grow.

-- The monitoring queries and get_job_statistics_summary(p_since) filter on created_at alone; the
-- (type, created_at) index could not serve that (no skip scan before Postgres 18), and every
-- index is paid on every enqueue. Completed jobs are pruned by completion time.
drop index if exists public.background_jobs_type_created_idx;
create index if not exists background_jobs_created_idx on public.background_jobs (created_at);
create index if not exists background_jobs_completed_idx
  on public.background_jobs (completed_at)
  where status in ('completed', 'cancelled');
-- Queued jobs by run time: the next scheduled job, and ready vs scheduled counts.
create index if not exists background_jobs_queued_run_at_idx
  on public.background_jobs (run_at)
  where status = 'queued';

-- ---------------------------------------------------------------------------------------------
-- What is left: each count is served by a partial index (a status IN (…) filter could use none
-- and read the whole table, 50–65 ms at 200k rows). next_run_at is when the next scheduled job
-- becomes ready, so a running drain can wait for it (a debounced push) instead of leaving it to
-- the minute sweep.
-- ---------------------------------------------------------------------------------------------
--
-- "Now" is the clock, not the transaction's start: a job enqueued by a transaction that began
-- after this one (and committed before this count, see release_drain_marker) is ready, not
-- scheduled a few microseconds ahead.
drop function if exists public.count_pending_webhook_jobs();
create or replace function public.count_pending_webhook_jobs()
returns table (ready bigint, scheduled bigint, processing bigint, next_run_at timestamptz)
language sql
volatile
set search_path = public
as $$
  with clock as (select clock_timestamp() as now)
  select
    (select count(*) from public.background_jobs j, clock where j.status = 'queued' and j.run_at <= clock.now),
    (select count(*) from public.background_jobs j, clock where j.status = 'queued' and j.run_at > clock.now),
    (select count(*) from public.background_jobs j where j.status = 'processing'),
    (select min(j.run_at) from public.background_jobs j, clock where j.status = 'queued' and j.run_at > clock.now);
$$;

-- ---------------------------------------------------------------------------------------------
-- A drain that ends hands the marker back, then counts what is pending. The exclusive lock waits
-- for enqueues that read the marker as held (they hold the shared lock until they commit), so
-- their jobs are in this count; enqueues after it find the marker free and kick.
-- ---------------------------------------------------------------------------------------------
create or replace function public.release_drain_marker(p_worker text)
returns table (ready bigint, scheduled bigint, processing bigint, next_run_at timestamptz)
language plpgsql
set search_path = public
as $$
begin
  perform pg_advisory_xact_lock(public.webhook_drain_marker_lock_key());
  update public.webhook_drain_marker m set held_by = null, held_until = null
   where m.id and m.held_by = p_worker;
  return query select * from public.count_pending_webhook_jobs();
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Monitoring: one row per job type over a window; all time when p_since is null. Two statements
-- rather than `p_since is null or …`, which no index can serve.
-- ---------------------------------------------------------------------------------------------
create or replace function public.get_job_statistics_summary(p_since timestamptz default null)
returns table (
  type text,
  total bigint,
  queued bigint,
  processing bigint,
  completed bigint,
  failed bigint,
  cancelled bigint,
  success_rate numeric,
  avg_duration_ms numeric,
  p95_duration_ms numeric
)
language plpgsql
stable
set search_path = public
as $$
begin
  return query
  select
    j.type,
    count(*),
    count(*) filter (where j.status = 'queued'),
    count(*) filter (where j.status = 'processing'),
    count(*) filter (where j.status = 'completed'),
    count(*) filter (where j.status = 'failed'),
    count(*) filter (where j.status = 'cancelled'),
    round(100.0 * count(*) filter (where j.status = 'completed')
      / nullif(count(*) filter (where j.status in ('completed', 'failed')), 0), 2),
    round(avg(j.duration_ms) filter (where j.status = 'completed'), 1),
    round((percentile_cont(0.95) within group (order by j.duration_ms)
      filter (where j.status = 'completed'))::numeric, 1)
  from public.background_jobs j
  where j.created_at >= coalesce(p_since, '-infinity'::timestamptz)
  group by j.type
  order by j.type;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Retention. Completed (and cancelled) jobs whose completion is older than p_completed_days go,
-- and so do deliveries and duplicates received before then; dead letters stay p_failed_days. A
-- delivery goes once it points at no job (deleting a job sets its deliveries' job_id to null), so
-- the deliveries of live jobs and of kept dead letters are never even read; a partial index finds
-- the unlinked ones. Delivery rows are the dedup key, so neither age may be under GitHub's 3-day
-- redelivery window; the cut-offs come from the database's own clock, so an application clock a
-- little ahead cannot cross it. At most p_batch_size rows per table per call, oldest first:
-- short transactions the sweep repeats while it has time.
-- ---------------------------------------------------------------------------------------------
create index if not exists webhook_deliveries_unlinked_received_idx
  on public.webhook_deliveries (received_at)
  where job_id is null;

create or replace function public.prune_webhook_data(
  p_completed_days double precision,
  p_failed_days double precision,
  p_batch_size integer default 1000,
  p_dry_run boolean default false
)
returns table (what text, rows bigint)
language plpgsql
set search_path = public
as $$
declare
  v_n bigint;
  v_completed_before timestamptz := now() - p_completed_days * interval '1 day';
  v_failed_before timestamptz := now() - p_failed_days * interval '1 day';
begin
  if p_completed_days is null or p_failed_days is null or p_completed_days < 3 or p_failed_days < 3 then
    raise exception 'prune_webhook_data: both ages must be at least 3 days (GitHub redelivers for 3 days)'
      using errcode = '22023';
  end if;
  if p_batch_size is null or p_batch_size < 1 then
    raise exception 'prune_webhook_data: p_batch_size must be positive' using errcode = '22023';
  end if;

  if p_dry_run then
    return query
      select 'completed_jobs'::text, count(*) from public.background_jobs j
       where j.status in ('completed', 'cancelled') and j.completed_at < v_completed_before
      union all
      select 'failed_jobs', count(*) from public.background_jobs j
       where j.status = 'failed' and j.failed_at < v_failed_before
      union all
      -- Those unlinked now, and those the job deletes above would unlink.
      select 'deliveries', count(*) from public.webhook_deliveries d
       where d.received_at < v_completed_before
         and (d.job_id is null or exists (select 1 from public.background_jobs j where j.id = d.job_id
               and ((j.status in ('completed', 'cancelled') and j.completed_at < v_completed_before)
                    or (j.status = 'failed' and j.failed_at < v_failed_before))))
      union all
      select 'duplicates', count(*) from public.webhook_delivery_duplicates x where x.received_at < v_completed_before;
    return;
  end if;

  with doomed as (
    select j.id from public.background_jobs j
     where j.status in ('completed', 'cancelled') and j.completed_at < v_completed_before
     order by j.completed_at limit p_batch_size
     for update skip locked
  )
  delete from public.background_jobs j using doomed where j.id = doomed.id;
  get diagnostics v_n = row_count;
  return query select 'completed_jobs'::text, v_n;

  with doomed as (
    select j.id from public.background_jobs j
     where j.status = 'failed' and j.failed_at < v_failed_before
     order by j.failed_at limit p_batch_size
     for update skip locked
  )
  delete from public.background_jobs j using doomed where j.id = doomed.id;
  get diagnostics v_n = row_count;
  return query select 'failed_jobs'::text, v_n;

  with doomed as (
    select d.delivery_id from public.webhook_deliveries d
     where d.job_id is null and d.received_at < v_completed_before
     order by d.received_at limit p_batch_size
     for update skip locked
  )
  delete from public.webhook_deliveries d using doomed where d.delivery_id = doomed.delivery_id;
  get diagnostics v_n = row_count;
  return query select 'deliveries'::text, v_n;

  with doomed as (
    select x.id from public.webhook_delivery_duplicates x
     where x.received_at < v_completed_before
     order by x.received_at limit p_batch_size
     for update skip locked
  )
  delete from public.webhook_delivery_duplicates x using doomed where x.id = doomed.id;
  get diagnostics v_n = row_count;
  return query select 'duplicates'::text, v_n;
end;
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.count_pending_webhook_jobs()',
    'public.release_drain_marker(text)',
    'public.get_job_statistics_summary(timestamptz)',
    'public.prune_webhook_data(double precision, double precision, integer, boolean)'
  ] loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
