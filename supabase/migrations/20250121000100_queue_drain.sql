-- webhook-router: the drain's SQL functions (claim, complete, fail with backoff, defer, replay)
-- and the Inngest circuit breaker, whose state lives here because Edge Function invocations
-- share no memory.

-- ---------------------------------------------------------------------------------------------
-- Claim: one statement picks ready jobs by priority then run time, skipping rows another drain
-- holds, and leases them. Expired leases (a drain that crashed or was killed) are first put back,
-- counted as a failed attempt so a job that kills its drain every time still reaches the dead
-- letter instead of looping forever.
--
-- enable_sort = off (for this function only): the ready jobs must be read in claim-index order
-- (background_jobs_claim_idx: priority, run_at) and only as far as p_limit. With statistics taken
-- while the queue was empty (a fresh deploy, or a quiet queue before a burst) the planner
-- otherwise bitmap-scans and sorts every queued row on every claim, which grows with the backlog.
-- The ordered index scan needs no sort; a claim of one job by id needs no ORDER BY at all.
-- ---------------------------------------------------------------------------------------------
create or replace function public.claim_webhook_jobs(
  p_worker text,
  p_limit integer default 10,
  p_lease_seconds integer default 60,
  p_job_id uuid default null
)
returns setof public.background_jobs
language plpgsql
set search_path = public
set enable_sort = off
as $$
begin
  with expired as (
    select e.id from public.background_jobs e
    where e.status = 'processing' and e.locked_until < now()
    for update skip locked
  )
  update public.background_jobs j
     set status = case when j.retry_count + 1 > j.max_retries then 'failed' else 'queued' end,
         failed_at = case when j.retry_count + 1 > j.max_retries then now() end,
         retry_count = j.retry_count + 1,
         error = 'lease expired: the drain holding this job (' || coalesce(j.locked_by, '?')
                 || ') stopped before finishing it',
         locked_by = null,
         locked_until = null,
         run_at = now(),
         updated_at = now()
    from expired
   where j.id = expired.id;

  if p_job_id is not null then
    -- One job (the receiver's kick): by primary key, if it is still ready.
    return query
    with picked as (
      select c.id from public.background_jobs c
      where c.id = p_job_id
        and c.status = 'queued'
        and c.run_at <= now()
      limit p_limit
      for update skip locked
    )
    update public.background_jobs j
       set status = 'processing',
           started_at = clock_timestamp(),
           locked_by = p_worker,
           locked_until = clock_timestamp() + make_interval(secs => p_lease_seconds),
           coalesce_key = null,
           updated_at = now()
      from picked
     where j.id = picked.id
    returning j.*;
    return;
  end if;

  return query
  with picked as (
    select c.id from public.background_jobs c
    where c.status = 'queued'
      and c.run_at <= now()
    order by c.priority, c.run_at
    limit p_limit
    for update skip locked
  )
  update public.background_jobs j
     set status = 'processing',
         started_at = clock_timestamp(),
         locked_by = p_worker,
         locked_until = clock_timestamp() + make_interval(secs => p_lease_seconds),
         coalesce_key = null,
         updated_at = now()
    from picked
   where j.id = picked.id
  returning j.*;
end;
$$;

-- Complete only while still holding the lease (compare-and-set): a late worker whose lease was
-- taken over gets false and must not report success.
--
-- The row is found by primary key alone and checked under its row lock. With the status in the
-- UPDATE's WHERE clause the planner prefers the partial lease index (status = 'processing'), and
-- then walks that index's entry for every job that ever held a lease (dead until vacuumed) on
-- every call: completes got slower with every job done.
create or replace function public.complete_webhook_job(
  p_job_id uuid,
  p_worker text,
  p_result jsonb default null
)
returns boolean
language plpgsql
set search_path = public
as $$
declare
  v_status text;
  v_owner text;
begin
  select j.status, j.locked_by into v_status, v_owner
    from public.background_jobs j
   where j.id = p_job_id
     for update;
  if not coalesce(v_status = 'processing' and v_owner = p_worker, false) then
    return false;
  end if;
  update public.background_jobs j
     set status = 'completed',
         result = p_result,
         error = null,
         completed_at = clock_timestamp(),
         duration_ms = greatest(0, (extract(epoch from clock_timestamp() - j.started_at) * 1000)::integer),
         locked_by = null,
         locked_until = null,
         updated_at = now()
   where j.id = p_job_id;
  return true;
end;
$$;

-- Record a failed attempt: back to the queue with exponential backoff and equal jitter
-- (delay in [d/2, d], d = min(max, base * 2^retry_count)), or the dead letter (status failed)
-- once retries are spent or the error can never succeed.
create or replace function public.fail_webhook_job(
  p_job_id uuid,
  p_worker text,
  p_error text,
  p_retryable boolean default true,
  p_result jsonb default null,
  p_base_delay_seconds double precision default 10,
  p_max_delay_seconds double precision default 3600
)
returns table (status text, retry_count integer, run_at timestamptz)
language sql
set search_path = public
as $$
  update public.background_jobs j
     set status = case when p_retryable and j.retry_count + 1 <= j.max_retries
                       then 'queued' else 'failed' end,
         failed_at = case when p_retryable and j.retry_count + 1 <= j.max_retries
                          then null else clock_timestamp() end,
         run_at = case when p_retryable and j.retry_count + 1 <= j.max_retries
                       then clock_timestamp() + make_interval(secs =>
                              least(p_max_delay_seconds, p_base_delay_seconds * power(2, j.retry_count))
                              * (0.5 + random() * 0.5))
                       else j.run_at end,
         retry_count = j.retry_count + 1,
         error = p_error,
         result = coalesce(p_result, j.result),
         duration_ms = greatest(0, (extract(epoch from clock_timestamp() - j.started_at) * 1000)::integer),
         locked_by = null,
         locked_until = null,
         updated_at = now()
   where j.id = p_job_id and j.status = 'processing' and j.locked_by = p_worker
  returning j.status, j.retry_count, j.run_at;
$$;

-- Put a claimed job back untouched until p_until (the Inngest circuit is open): no
-- retry is spent, because nothing was wrong with the job.
create or replace function public.defer_webhook_job(
  p_job_id uuid,
  p_worker text,
  p_until timestamptz,
  p_reason text
)
returns boolean
language sql
set search_path = public
as $$
  with deferred as (
    update public.background_jobs j
       set status = 'queued',
           run_at = greatest(p_until, now()),
           error = p_reason,
           locked_by = null,
           locked_until = null,
           updated_at = now()
     where j.id = p_job_id and j.status = 'processing' and j.locked_by = p_worker
    returning 1
  )
  select exists (select 1 from deferred);
$$;

-- What a drain leaves behind: jobs ready now, and jobs waiting for a later run time.
-- (Dropped first: a later migration gives it another result type, and these files must stay
-- safe to run again.)
drop function if exists public.count_pending_webhook_jobs();
create or replace function public.count_pending_webhook_jobs()
returns table (ready bigint, scheduled bigint, processing bigint)
language sql
stable
set search_path = public
as $$
  select
    count(*) filter (where j.status = 'queued' and j.run_at <= now()),
    count(*) filter (where j.status = 'queued' and j.run_at > now()),
    count(*) filter (where j.status = 'processing')
  from public.background_jobs j
  where j.status in ('queued', 'processing');
$$;

-- Dead letters back to the queue with a fresh retry budget. Without arguments it does nothing:
-- replaying everything must be asked for (p_all).
create or replace function public.replay_webhook_jobs(
  p_job_id uuid default null,
  p_failed_since timestamptz default null,
  p_all boolean default false,
  p_dry_run boolean default false
)
returns table (id uuid, type text, previous_error text, failed_at timestamptz)
language plpgsql
set search_path = public
as $$
begin
  if p_dry_run then
    return query
      select j.id, j.type, j.error, j.failed_at from public.background_jobs j
      where j.status = 'failed'
        and (p_job_id is not null or p_failed_since is not null or p_all)
        and (p_job_id is null or j.id = p_job_id)
        and (p_failed_since is null or j.failed_at >= p_failed_since)
      order by j.failed_at;
    return;
  end if;
  return query
    with replayed as (
      select j.id, j.error, j.failed_at from public.background_jobs j
      where j.status = 'failed'
        and (p_job_id is not null or p_failed_since is not null or p_all)
        and (p_job_id is null or j.id = p_job_id)
        and (p_failed_since is null or j.failed_at >= p_failed_since)
      for update
    )
    update public.background_jobs j
       set status = 'queued', retry_count = 0, run_at = now(), failed_at = null,
           error = null, locked_by = null, locked_until = null, updated_at = now()
      from replayed r
     where j.id = r.id
    returning j.id, j.type, r.error, r.failed_at;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Circuit breaker for Inngest.
--   closed    → calls allowed; consecutive failures are counted.
--   open      → calls refused until retry_at; jobs are deferred to then.
--   half_open → after retry_at, one drain (probe_owner) may call; its outcome closes or reopens.
-- ---------------------------------------------------------------------------------------------
create table if not exists public.webhook_circuit_breakers (
  name text primary key,
  state text not null default 'closed'
    constraint webhook_circuit_breakers_state_check check (state in ('closed', 'open', 'half_open')),
  consecutive_failures integer not null default 0,
  opened_at timestamptz,
  retry_at timestamptz,
  probe_owner text,
  last_error text,
  updated_at timestamptz not null default now()
);
alter table public.webhook_circuit_breakers enable row level security;
revoke all on public.webhook_circuit_breakers from public, anon, authenticated;
grant all on public.webhook_circuit_breakers to service_role;
drop policy if exists webhook_circuit_breakers_service_role on public.webhook_circuit_breakers;
create policy webhook_circuit_breakers_service_role on public.webhook_circuit_breakers
  for all to service_role using (true) with check (true);

create or replace function public.acquire_circuit(
  p_name text,
  p_worker text,
  p_probe_timeout_seconds integer default 60
)
returns table (allowed boolean, state text, retry_at timestamptz, consecutive_failures integer)
language plpgsql
set search_path = public
as $$
declare
  c public.webhook_circuit_breakers;
begin
  insert into public.webhook_circuit_breakers (name) values (p_name) on conflict (name) do nothing;
  select * into c from public.webhook_circuit_breakers b where b.name = p_name for update;

  -- An open row without retry_at (set by hand) would otherwise refuse callers forever.
  if c.state = 'open' and (c.retry_at is null or c.retry_at <= now())
     or c.state = 'half_open' and c.updated_at < now() - make_interval(secs => p_probe_timeout_seconds) then
    -- This caller becomes the probe (a stuck probe is replaced after the timeout).
    update public.webhook_circuit_breakers b
       set state = 'half_open', probe_owner = p_worker, updated_at = now()
     where b.name = p_name;
    return query select true, 'half_open'::text, c.retry_at, c.consecutive_failures;
  elsif c.state = 'open' then
    return query select false, 'open'::text, c.retry_at, c.consecutive_failures;
  elsif c.state = 'half_open' then
    return query select c.probe_owner = p_worker, 'half_open'::text,
      case when c.probe_owner = p_worker then null
           else now() + make_interval(secs => p_probe_timeout_seconds) end,
      c.consecutive_failures;
  else
    return query select true, 'closed'::text, null::timestamptz, c.consecutive_failures;
  end if;
end;
$$;

create or replace function public.report_circuit(
  p_name text,
  p_worker text,
  p_success boolean,
  p_failure_threshold integer default 5,
  p_cooldown_seconds integer default 30,
  p_error text default null
)
returns table (state text, consecutive_failures integer, retry_at timestamptz)
language plpgsql
set search_path = public
as $$
begin
  insert into public.webhook_circuit_breakers (name) values (p_name) on conflict (name) do nothing;
  if p_success then
    return query
      update public.webhook_circuit_breakers b
         set state = 'closed', consecutive_failures = 0, opened_at = null, retry_at = null,
             probe_owner = null, updated_at = now()
       where b.name = p_name
      returning b.state, b.consecutive_failures, b.retry_at;
  else
    return query
      update public.webhook_circuit_breakers b
         set consecutive_failures = b.consecutive_failures + 1,
             last_error = p_error,
             state = case when b.state = 'half_open'
                            or b.consecutive_failures + 1 >= p_failure_threshold
                          then 'open' else b.state end,
             opened_at = case when b.state <> 'open'
                               and (b.state = 'half_open' or b.consecutive_failures + 1 >= p_failure_threshold)
                              then now() else b.opened_at end,
             retry_at = case when b.state = 'half_open'
                               or b.consecutive_failures + 1 >= p_failure_threshold
                             then now() + make_interval(secs => p_cooldown_seconds)
                             else b.retry_at end,
             probe_owner = null,
             updated_at = now()
       where b.name = p_name
      returning b.state, b.consecutive_failures, b.retry_at;
  end if;
end;
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.claim_webhook_jobs(text, integer, integer, uuid)',
    'public.complete_webhook_job(uuid, text, jsonb)',
    'public.fail_webhook_job(uuid, text, text, boolean, jsonb, double precision, double precision)',
    'public.defer_webhook_job(uuid, text, timestamptz, text)',
    'public.replay_webhook_jobs(uuid, timestamptz, boolean, boolean)',
    'public.count_pending_webhook_jobs()',
    'public.acquire_circuit(text, text, integer)',
    'public.report_circuit(text, text, boolean, integer, integer, text)'
  ] loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
