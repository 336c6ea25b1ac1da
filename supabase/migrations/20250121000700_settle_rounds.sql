-- webhook-router: the drain settles each claimed round in one statement, and the Inngest circuit
-- classifies what it is told.
--
-- The drain used to write each job's outcome where it happened (complete, fail, defer: five call
-- sites) and restated in TypeScript the rule "retries spent → dead letter" that SQL owns. Now the
-- drain only reports what happened to each job, and settle_webhook_jobs alone decides: completed,
-- retried with backoff, dead-lettered, or deferred.

-- ---------------------------------------------------------------------------------------------
-- Claim: returns only what the drain reads (every column of every row cost a third of the
-- throughput), refuses a lease that would never expire, and keeps the drain marker for
-- p_marker_holder while a `{}` drain works: taken over from the kick that started it (or when free),
-- then rewritten only when half of it has run out, so a drain rarely touches that row; a second
-- drain running beside the holder leaves it alone.
-- ---------------------------------------------------------------------------------------------
drop function if exists public.claim_webhook_jobs(text, integer, integer, uuid);
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
      from picked
     where j.id = picked.id
    returning j.id, j.type, j.payload, j.retry_count, j.max_retries, j.repository, j.repository_github_id;
    return;
  end if;

  return query
  with picked as (
    select c.id from public.background_jobs c
    where c.status = 'queued' and c.run_at <= now()
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
  returning j.id, j.type, j.payload, j.retry_count, j.max_retries, j.repository, j.repository_github_id;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Circuit breaker: a probe is held for at least p_probe_timeout_seconds (the drain passes the job
-- timeout or the cooldown, whichever is longer), so a slow probe is not joined by a second one;
-- and while half open only the probe's own report counts.
-- ---------------------------------------------------------------------------------------------
create or replace function public.webhook_report_circuit(
  p_name text,
  p_worker text,
  p_failures integer,
  p_successes integer,
  p_opens_now boolean,
  p_failure_threshold integer,
  p_cooldown_seconds integer,
  p_error text
)
returns public.webhook_circuit_breakers
language plpgsql
set search_path = public
as $$
declare
  c public.webhook_circuit_breakers;
  v_failures integer;
  v_opens boolean;
begin
  insert into public.webhook_circuit_breakers (name) values (p_name) on conflict (name) do nothing;
  select * into c from public.webhook_circuit_breakers b where b.name = p_name for update;
  -- Open: nobody but the next probe may change it. Half open: only the probe's outcome counts;
  -- a straggler that started before the circuit opened proves nothing about now.
  if c.state = 'open' or (c.state = 'half_open' and c.probe_owner is distinct from p_worker) then
    return c;
  end if;
  if p_failures > 0 then
    -- Consecutive failures count since the last success; a round with both starts again from
    -- its own failures.
    v_failures := case when p_successes > 0 then p_failures else c.consecutive_failures + p_failures end;
    v_opens := p_opens_now or c.state = 'half_open' or v_failures >= p_failure_threshold;
    update public.webhook_circuit_breakers b
       set consecutive_failures = v_failures,
           last_error = p_error,
           state = case when v_opens then 'open' else 'closed' end,
           opened_at = case when v_opens then now() else null end,
           retry_at = case when v_opens then now() + make_interval(secs => p_cooldown_seconds) else null end,
           probe_owner = null,
           updated_at = now()
     where b.name = p_name
    returning b.* into c;
  elsif p_successes > 0 and (c.state <> 'closed' or c.consecutive_failures > 0) then
    update public.webhook_circuit_breakers b
       set state = 'closed', consecutive_failures = 0, opened_at = null, retry_at = null,
           probe_owner = null, updated_at = now()
     where b.name = p_name
    returning b.* into c;
  end if;
  return c;
end;
$$;

-- The public report function keeps its signature and now honours which worker reports.
create or replace function public.report_circuit(
  p_name text,
  p_worker text,
  p_success boolean,
  p_failure_threshold integer default 5,
  p_cooldown_seconds integer default 30,
  p_error text default null
)
returns table (state text, consecutive_failures integer, retry_at timestamptz)
language sql
set search_path = public
as $$
  select c.state, c.consecutive_failures, c.retry_at
  from public.webhook_report_circuit(p_name, p_worker,
    case when p_success then 0 else 1 end, case when p_success then 1 else 0 end, false,
    p_failure_threshold, p_cooldown_seconds, p_error) c;
$$;

-- ---------------------------------------------------------------------------------------------
-- Settle a claimed round. p_outcomes maps job id → what happened:
--   {"kind": "succeeded", "result": {…}, "sent": <events that reached Inngest>}
--   {"kind": "failed", "error": "…", "retryable": true|false, "result": {…}}   the job's own fault
--   {"kind": "unavailable", "error": "…", "cause": "outage"|"config", "result": {…}}  Inngest's fault
--   {"kind": "deferred", "until": "<timestamptz>", "reason": "…"}              not run (circuit open)
-- and the function decides each job's fate:
--   succeeded → completed; failed → back to the queue with exponential backoff and equal jitter
--   (delay in [d/2, d], d = min(max, base · 2^retry_count)) while retries remain, else the dead
--   letter (status failed; at once when not retryable); unavailable → deferred without spending a
--   retry (an outage must never dead-letter a job) until the circuit's probe time, or a backoff
--   of at most the cooldown while the circuit stays closed; deferred → queued again at `until`.
-- It returns one row per listed job: completed | retried | failed | deferred | lost, where lost
-- means the job was no longer this worker's (its lease expired and another drain took it).
--
-- The round's Inngest outcome is reported to the circuit in the same transaction: outages
-- (network errors, 5xx, 429) count towards opening it, a configuration error (401/403) opens it
-- at once, any other refusal is the job's own failure and never touches it.
--
-- Rows are locked in id order, so two callers with overlapping ids cannot deadlock; each row is
-- found by primary key (a status condition in the lookup would walk the partial lease index).
-- ---------------------------------------------------------------------------------------------
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
  from input i left join settled s on s.id = i.id;
end;
$$;

-- The one-job functions stay (operators, benchmarks) as settle rounds of one.
create or replace function public.complete_webhook_jobs(p_worker text, p_results jsonb)
returns table (id uuid)
language sql
set search_path = public
as $$
  select s.id
  from public.settle_webhook_jobs(p_worker,
    (select coalesce(jsonb_object_agg(r.key, jsonb_build_object('kind', 'succeeded', 'result', r.value)), '{}'::jsonb)
       from jsonb_each(coalesce(p_results, '{}'::jsonb)) r)) s
  where s.outcome = 'completed';
$$;

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
  select s.status, s.retry_count, s.run_at
  from public.settle_webhook_jobs(p_worker,
    case when p_job_id is null then '{}'::jsonb else jsonb_build_object(p_job_id::text,
      jsonb_build_object('kind', 'failed', 'error', p_error, 'retryable', p_retryable, 'result', p_result)) end,
    p_base_delay_seconds, p_max_delay_seconds) s
  where s.outcome <> 'lost';
$$;

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
  select exists (
    select 1 from public.settle_webhook_jobs(p_worker,
      case when p_job_id is null then '{}'::jsonb else jsonb_build_object(p_job_id::text,
        jsonb_build_object('kind', 'deferred', 'until', p_until, 'reason', p_reason)) end) s
    where s.outcome = 'deferred');
$$;

-- ---------------------------------------------------------------------------------------------
-- Replays start a clean run: the last run's result, completion time and duration go, so a
-- replay that fails does not keep showing the old success.
-- ---------------------------------------------------------------------------------------------
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
      order by j.id
      for update
    )
    update public.background_jobs j
       set status = 'queued', retry_count = 0, run_at = now(), failed_at = null, completed_at = null,
           started_at = null, duration_ms = null, result = null, error = null, locked_by = null,
           locked_until = null, updated_at = now()
      from replayed r
     where j.id = r.id
    returning j.id, j.type, r.error, r.failed_at;
end;
$$;

create or replace function public.replay_webhook_delivery(p_delivery_id text, p_dry_run boolean default false)
returns table (delivery_id text, route text, job_id uuid, previous_status text, replayed boolean)
language plpgsql
set search_path = public
as $$
begin
  return query
    with target as (
      select d.delivery_id, d.route, d.job_id, j.status
      from public.webhook_deliveries d
      left join public.background_jobs j on j.id = d.job_id
      where d.delivery_id = p_delivery_id
    ), replayed as (
      update public.background_jobs j
         set status = 'queued', retry_count = 0, run_at = now(), failed_at = null, completed_at = null,
             started_at = null, duration_ms = null, result = null, error = null, locked_by = null,
             locked_until = null, updated_at = now()
        from target t
       where not p_dry_run and j.id = t.job_id and j.status in ('completed', 'failed', 'cancelled')
      returning j.id
    )
    select t.delivery_id, t.route, t.job_id, t.status,
           exists (select 1 from replayed r where r.id = t.job_id)
    from target t;
end;
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.claim_webhook_jobs(text, integer, integer, uuid, text, integer)',
    'public.webhook_report_circuit(text, text, integer, integer, boolean, integer, integer, text)',
    'public.report_circuit(text, text, boolean, integer, integer, text)',
    'public.settle_webhook_jobs(text, jsonb, double precision, double precision, text, integer, integer)',
    'public.complete_webhook_jobs(text, jsonb)',
    'public.fail_webhook_job(uuid, text, text, boolean, jsonb, double precision, double precision)',
    'public.defer_webhook_job(uuid, text, timestamptz, text)',
    'public.replay_webhook_jobs(uuid, timestamptz, boolean, boolean)',
    'public.replay_webhook_delivery(text, boolean)'
  ] loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
