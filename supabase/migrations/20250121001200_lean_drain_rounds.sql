-- webhook-router: a drain round costs the database and the drain less.
--
-- Measured with 4 drains claiming and settling rounds of 50 tiny jobs (perf on the backends, CPU
-- time per job from /proc): our queue cost 35 µs of PostgreSQL and 10 µs of Node per job, a bare
-- one-statement SKIP LOCKED queue 15 and 5.
--
-- * The claim was planned afresh on every call. Its generic plan (the one PL/pgSQL would cache)
--   joined the picked ids to a sequential scan of the whole table, as `limit p_limit` is costed at
--   a tenth of the table; so each call chose a custom plan and paid the planner. The claimed rows
--   are now found by primary key from an array (a plan that holds for any limit), the plan is
--   cached, and the rows still come back in claim order (sorted: with JIT off for the function).
-- * A round's settle returned a row for every job; the drain only needs the jobs that did not
--   complete (the rest completed), so it now calls settle_webhook_round, which returns those alone,
--   and reads and parses nothing for a round that went well. settle_webhook_jobs is unchanged for
--   operators (a row per listed job) and runs the same code.
-- * Job ids are time-ordered (UUID version 7 layout: 48 bits of milliseconds, then random bits).
--   A round's jobs were scattered over the whole primary key, one leaf page each; in creation
--   order they share a few pages, which every enqueue, claim and settle writes. Ids stay uuids.
-- * A round settled twice (see 20250121001300) reports an outage to the circuit once: only
--   outcomes of jobs still the worker's count.

create or replace function public.claim_webhook_jobs(
  p_worker text,
  p_limit integer default 10,
  p_lease_seconds integer default 60,
  p_job_id uuid default null,
  p_marker_holder text default null,
  p_marker_hold_seconds integer default null
)
returns table (
  id uuid,
  type text,
  payload jsonb,
  retry_count integer,
  max_retries integer,
  repository text,
  repository_github_id bigint
)
language plpgsql
set search_path = public
set enable_sort = off
set plan_cache_mode = force_generic_plan
-- The final sort costs disable_cost under enable_sort = off, which would pass jit_above_cost and
-- compile the statement (100 ms) on every call.
set jit = off
as $$
begin
  if p_lease_seconds is null or p_lease_seconds <= 0 then
    raise exception 'claim_webhook_jobs: p_lease_seconds must be a positive number of seconds, got %', p_lease_seconds
      using errcode = '22023';
  end if;
  if p_worker is null or p_worker = '' then
    raise exception 'claim_webhook_jobs: p_worker is required' using errcode = '22023';
  end if;

  if p_marker_holder is not null and p_marker_hold_seconds is not null then
    update public.webhook_drain_marker m
       set held_by = p_marker_holder, held_until = now() + make_interval(secs => p_marker_hold_seconds)
     where m.id
       and (m.held_by = 'kick' or m.held_until is null or m.held_until < now()
            or (m.held_by = p_marker_holder
                and m.held_until < now() + make_interval(secs => p_marker_hold_seconds / 2.0)));
  end if;

  -- Expired leases (a drain that crashed or was killed) go back first, counted as an attempt so a
  -- job that kills its drain every time still reaches the dead letter.
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
    return query
    with picked as (
      select c.id from public.background_jobs c
      where c.id = p_job_id and c.status = 'queued' and c.run_at <= now()
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
     where j.id = any (array(select picked.id from picked))
    returning j.id, j.type, j.payload, j.retry_count, j.max_retries, j.repository, j.repository_github_id;
    return;
  end if;

  -- Handed out in claim order (priority, then run_at), the order the drain starts them in.
  return query
  with picked as (
    select c.id from public.background_jobs c
    where c.status = 'queued' and c.run_at <= now()
    order by c.priority, c.run_at
    limit p_limit
    for update skip locked
  ),
  claimed as (
    update public.background_jobs j
       set status = 'processing',
           started_at = clock_timestamp(),
           locked_by = p_worker,
           locked_until = clock_timestamp() + make_interval(secs => p_lease_seconds),
           coalesce_key = null,
           updated_at = now()
     where j.id = any (array(select picked.id from picked))
    returning j.id, j.type, j.payload, j.retry_count, j.max_retries, j.repository, j.repository_github_id,
              j.priority, j.run_at
  )
  select c.id, c.type, c.payload, c.retry_count, c.max_retries, c.repository, c.repository_github_id
  from claimed c
  order by c.priority, c.run_at;
end;
$$;

-- settle_webhook_jobs' body, under a name of its own so the drain can leave out the completed
-- jobs' rows; settle_webhook_jobs keeps its signature and answer (every listed job) for operators.
create or replace function public.settle_webhook_round(
  p_worker text,
  p_outcomes jsonb,
  p_base_delay_seconds double precision default 10,
  p_max_delay_seconds double precision default 3600,
  p_circuit text default 'inngest',
  p_failure_threshold integer default 5,
  p_cooldown_seconds integer default 30,
  p_report_completed boolean default false
)
returns table (id uuid, outcome text, status text, run_at timestamptz, retry_count integer)
language plpgsql
set search_path = public
as $$
declare
  v_failures integer;
  v_config boolean;
  v_successes integer;
  v_error text;
  c public.webhook_circuit_breakers;
  v_outage_until timestamptz;
begin
  select count(*) filter (where o.value ->> 'kind' = 'unavailable'),
         coalesce(bool_or(o.value ->> 'kind' = 'unavailable' and o.value ->> 'cause' = 'config'), false),
         count(*) filter (where o.value ->> 'kind' = 'succeeded' and coalesce((o.value ->> 'sent')::integer, 0) > 0),
         max(o.value ->> 'error') filter (where o.value ->> 'kind' = 'unavailable')
    into v_failures, v_config, v_successes, v_error
    from jsonb_each(coalesce(p_outcomes, '{}'::jsonb)) o;
  if v_failures > 0 then
    -- An outage counts only for jobs still this worker's: a round settled a second time (the drain
    -- settles on its own when its combined call failed, and that call may have committed) must not
    -- report its outage to the circuit twice. Looked up only when there is an outage to report.
    select count(*), coalesce(bool_or(o.value ->> 'cause' = 'config'), false), max(o.value ->> 'error')
      into v_failures, v_config, v_error
      from jsonb_each(p_outcomes) o
      join public.background_jobs j on j.id = o.key::uuid
     where o.value ->> 'kind' = 'unavailable' and j.status = 'processing' and j.locked_by = p_worker;
  end if;

  if v_failures > 0 or v_successes > 0 then
    select * into c from public.webhook_circuit_breakers b where b.name = p_circuit;
    -- The success path writes only when there is something to reset: rounds on a healthy
    -- circuit do not all queue on its row.
    if v_failures > 0 or c.state is distinct from 'closed' or c.consecutive_failures > 0 then
      c := public.webhook_report_circuit(p_circuit, p_worker, v_failures, v_successes, v_config,
        p_failure_threshold, p_cooldown_seconds, v_error);
    end if;
  end if;
  if v_failures > 0 then
    -- Until the probe when the circuit is open; otherwise a backoff on the failures so far, never
    -- longer than the cooldown (the sender already retried for seconds: this is a short wait).
    v_outage_until := case when c.state = 'open' and c.retry_at is not null then c.retry_at
      else clock_timestamp() + make_interval(secs =>
        least(p_cooldown_seconds, p_max_delay_seconds,
              p_base_delay_seconds * power(2, greatest(c.consecutive_failures - 1, 0)))
        * (0.5 + random() * 0.5)) end;
  end if;

  return query
  with input as (
    select r.key::uuid as id, r.value as o from jsonb_each(coalesce(p_outcomes, '{}'::jsonb)) r
  ),
  locked as (
    select j.id, j.status, j.locked_by, j.retry_count, j.max_retries
    from public.background_jobs j
    where j.id = any (array(select i.id from input i))
    order by j.id
    for update
  ),
  decided as (
    select l.id, i.o,
      case i.o ->> 'kind'
        when 'succeeded' then 'completed'
        when 'failed' then
          case when coalesce((i.o ->> 'retryable')::boolean, true) and l.retry_count + 1 <= l.max_retries
               then 'retried' else 'failed' end
        when 'unavailable' then 'deferred'
        when 'deferred' then 'deferred'
        -- An outcome we do not know is a bug in the caller: retried, so it is not lost.
        else case when l.retry_count + 1 <= l.max_retries then 'retried' else 'failed' end
      end as outcome
    from locked l
    join input i on i.id = l.id
    where l.status = 'processing' and l.locked_by = p_worker
  ),
  settled as (
    update public.background_jobs j
       set status = case d.outcome when 'completed' then 'completed' when 'failed' then 'failed' else 'queued' end,
           -- A deferral keeps the last result unless it brings its own (which workspaces a partial
           -- fan-out reached before the outage).
           result = case when d.outcome = 'deferred' then coalesce(nullif(d.o -> 'result', 'null'::jsonb), j.result)
                         else nullif(d.o -> 'result', 'null'::jsonb) end,
           error = case d.o ->> 'kind'
                     when 'succeeded' then null
                     when 'unavailable' then
                       case when d.o ->> 'cause' = 'config' then 'Inngest configuration: ' else 'Inngest unavailable: ' end
                       || coalesce(d.o ->> 'error', '?')
                     when 'deferred' then coalesce(d.o ->> 'reason', 'deferred')
                     else coalesce(d.o ->> 'error', 'failed without an error message') end,
           retry_count = case when d.outcome in ('retried', 'failed') then j.retry_count + 1 else j.retry_count end,
           run_at = case d.outcome
                      when 'retried' then clock_timestamp() + make_interval(secs =>
                        least(p_max_delay_seconds, p_base_delay_seconds * power(2, j.retry_count)) * (0.5 + random() * 0.5))
                      when 'deferred' then
                        case when d.o ->> 'kind' = 'unavailable' then v_outage_until
                             else greatest(coalesce((d.o ->> 'until')::timestamptz, now()), now()) end
                      else j.run_at end,
           completed_at = case when d.outcome = 'completed' then clock_timestamp() else null end,
           failed_at = case when d.outcome = 'failed' then clock_timestamp() else null end,
           duration_ms = case when d.outcome = 'deferred' then j.duration_ms
                              else greatest(0, (extract(epoch from clock_timestamp() - j.started_at) * 1000)::integer) end,
           locked_by = null,
           locked_until = null,
           updated_at = now()
      from decided d
     where j.id = d.id
    returning j.id, d.outcome, j.status, j.run_at, j.retry_count
  )
  select i.id, coalesce(s.outcome, 'lost'), s.status, s.run_at, s.retry_count
  from input i left join settled s on s.id = i.id
  where p_report_completed or s.outcome is distinct from 'completed';
end;
$$;

create or replace function public.settle_webhook_jobs(
  p_worker text,
  p_outcomes jsonb,
  p_base_delay_seconds double precision default 10,
  p_max_delay_seconds double precision default 3600,
  p_circuit text default 'inngest',
  p_failure_threshold integer default 5,
  p_cooldown_seconds integer default 30
)
returns table (id uuid, outcome text, status text, run_at timestamptz, retry_count integer)
language sql
set search_path = public
as $$
  select * from public.settle_webhook_round(p_worker, p_outcomes, p_base_delay_seconds, p_max_delay_seconds,
    p_circuit, p_failure_threshold, p_cooldown_seconds, true);
$$;

-- Time-ordered uuids: PostgreSQL 15 has no uuidv7() (18 does); this lays one out by hand.
-- No SET clause, unlike the other functions here: a SQL function with one is never inlined, and
-- PostgreSQL 15 parses and plans its body on every call — 60-80 µs of database time per queued
-- delivery, measured. Without it the planner inlines the body into each INSERT. Nothing here can be
-- shadowed through search_path: it calls built-in functions and operators only, and pg_catalog is
-- searched before any schema of the path.
create or replace function public.webhook_uuid_v7()
returns uuid
language sql
volatile
as $$
  -- gen_random_uuid() already carries the RFC 4122 variant; its first 48 bits become the Unix
  -- time in milliseconds and its version nibble goes from 4 (0100) to 7 (0111).
  select encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
        placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
        from 1 for 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;
alter table public.background_jobs alter column id set default public.webhook_uuid_v7();

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.claim_webhook_jobs(text, integer, integer, uuid, text, integer)',
    'public.settle_webhook_round(text, jsonb, double precision, double precision, text, integer, integer, boolean)',
    'public.settle_webhook_jobs(text, jsonb, double precision, double precision, text, integer, integer)',
    'public.webhook_uuid_v7()'
  ] loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
