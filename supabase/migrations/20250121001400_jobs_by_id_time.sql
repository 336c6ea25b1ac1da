-- webhook-router: time ranges of jobs are read through the time-ordered primary key, and
-- background_jobs_created_idx goes.
--
-- Every status change of a job is an update PostgreSQL cannot make HOT (status is in the partial
-- indexes' predicates), so each one adds an entry to every index whose predicate the new row
-- meets: the claim wrote the primary key, the lease index and created_idx; the settle the primary
-- key, the completed index and created_idx. created_idx was a third of those entries and served
-- only reads by creation time. Job ids already carry their creation time (webhook_uuid_v7(), in
-- 20250121001200: 48 bits of milliseconds from the insert's clock, which reads no earlier
-- than created_at's transaction start; cut to whole milliseconds, an id's time is at most 1 ms
-- before created_at), so a creation-time range is a primary-key range.
-- Measured on the queue benchmark (tiny jobs, 4 drains, claim + settle): BENCHMARKS.md.
--
-- Found by id time, then filtered on created_at, so the answer is the same as filtering
-- created_at alone, with two limits this accepts: a job whose created_at was moved after its id
-- was made, or one inserted with an explicit time-ordered id from another clock, is found only if
-- its id's time is within [since - 1 minute, now + 1 day). Jobs with other ids (gen_random_uuid()
-- ids from before 20250121001200, or explicit ones) are found through a partial index that holds
-- only them, so new jobs never write it.

-- The smallest id of the time-ordered layout at p_at (its millisecond, every other bit zero); null
-- for null. Not SET-bound, not strict and stable, so queries inline it and evaluate it once per scan.
create or replace function public.webhook_uuid_v7_floor(p_at timestamptz)
returns uuid
language sql
stable
parallel safe
as $$
  select case when p_at is not null then encode(
    overlay('\x00000000000000000000000000000000'::bytea
      placing substring(int8send(floor(extract(epoch from
        least(greatest(p_at, '1970-01-01 00:00:00+00'::timestamptz), '10000-01-01 00:00:00+00'::timestamptz)) * 1000)::bigint)
        from 3)
      from 1 for 6),
    'hex')::uuid end
$$;

-- A time-ordered id for a given time: for backfills and for seeding history (tests, benchmarks)
-- whose ids must agree with their created_at. Same layout as webhook_uuid_v7().
create or replace function public.webhook_uuid_v7_at(p_at timestamptz)
returns uuid
language sql
volatile
as $$
  -- A fresh webhook_uuid_v7() with its 48 bits of time replaced by p_at's.
  select encode(
    overlay(uuid_send(public.webhook_uuid_v7())
      placing substring(uuid_send(public.webhook_uuid_v7_floor(p_at)) from 1 for 6)
      from 1 for 6),
    'hex')::uuid
$$;

-- Jobs whose ids are not of the time-ordered layout (version nibble 7): only they are in it.
create index if not exists background_jobs_other_ids_created_idx
  on public.background_jobs (created_at)
  where substr(id::text, 15, 1) <> '7';

drop index if exists public.background_jobs_created_idx;

-- The jobs created at or after p_since, for monitoring queries on a large table:
-- `from webhook_jobs_since(now() - interval '24 hours')` instead of `from background_jobs where
-- created_at > now() - interval '24 hours'` (which still works, reading the whole table). An
-- inlinable SQL function (no SET, not strict, stable): the planner sees the two scans below.
-- Every job is in at most one branch: ids inside the range in the first, others in the second.
create or replace function public.webhook_jobs_since(p_since timestamptz)
returns setof public.background_jobs
language sql
stable
as $$
  select j.* from public.background_jobs j
   where j.id >= public.webhook_uuid_v7_floor(p_since - interval '1 minute')
     and j.id < public.webhook_uuid_v7_floor(greatest(p_since, now()) + interval '1 day')
     and j.created_at >= p_since
  union all
  select j.* from public.background_jobs j
   where substr(j.id::text, 15, 1) <> '7'
     and j.created_at >= p_since
     and not (j.id >= public.webhook_uuid_v7_floor(p_since - interval '1 minute')
              and j.id < public.webhook_uuid_v7_floor(greatest(p_since, now()) + interval '1 day'))
$$;

-- As in 20250121000800, with the window read through webhook_jobs_since.
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
-- Its estimates run far above the rows it reads (the other-ids index holds few), which had JIT
-- compile it on every call at 1M jobs: 21 ms of an 87 ms call (BENCHMARKS.md §6).
set jit = off
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
  -- All time when p_since is null (webhook_jobs_since(null) is empty; the other branch runs alone).
  from (select s.* from public.webhook_jobs_since(p_since) s
        union all
        select b.* from public.background_jobs b where p_since is null) j
  group by j.type
  order by j.type;
end;
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.webhook_uuid_v7_floor(timestamptz)',
    'public.webhook_uuid_v7_at(timestamptz)',
    'public.webhook_jobs_since(timestamptz)',
    'public.get_job_statistics_summary(timestamptz)'
  ] loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
