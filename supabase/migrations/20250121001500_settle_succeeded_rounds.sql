-- webhook-router: a round in which every job succeeded is settled by one update.
--
-- settle_webhook_round read every job of the round (locking it), joined it to its outcome, updated
-- it and joined the answer back to the outcomes: four passes over the round for what is, in the
-- drain's usual round, "complete these jobs if they are still mine". That round now takes one
-- UPDATE by primary key; a round with any other outcome runs the general statement as before.
-- Measured on the queue benchmark (BENCHMARKS.md §4).

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
-- Both statements lock the round's jobs in id order (the general one with `order by id for
-- update`, the one-update path by an index scan of the primary key, which visits the ids sorted),
-- so two settles of the same jobs queue rather than deadlock; a bitmap scan would visit them in
-- heap order.
set enable_bitmapscan = off
as $$
declare
  v_failures integer;
  v_config boolean;
  v_successes integer;
  v_error text;
  c public.webhook_circuit_breakers;
  v_outage_until timestamptz;
  v_all_succeeded boolean;
begin
  select count(*) filter (where o.value ->> 'kind' = 'unavailable'),
         coalesce(bool_or(o.value ->> 'kind' = 'unavailable' and o.value ->> 'cause' = 'config'), false),
         count(*) filter (where o.value ->> 'kind' = 'succeeded' and coalesce((o.value ->> 'sent')::integer, 0) > 0),
         max(o.value ->> 'error') filter (where o.value ->> 'kind' = 'unavailable'),
         -- Not null for an outcome without a kind (bool_and would skip it): that one is retried.
         coalesce(bool_and(coalesce(o.value ->> 'kind' = 'succeeded' and o.key = o.key::uuid::text, false)), false)
    into v_failures, v_config, v_successes, v_error, v_all_succeeded
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

  -- The drain's usual round: every job succeeded (ids written as the claim returned them). One
  -- update completes the jobs still this worker's, and the others are reported lost: the same rows
  -- and values as the general statement below, without reading and locking each job first. Its
  -- WHERE is checked again on a row changed since the snapshot, so a job taken back meanwhile is
  -- not touched. Jobs are found by primary key from an array (in id order) and each one's result
  -- by its key in p_outcomes, not by a join the planner could turn into a scan of the table.
  if v_all_succeeded and not p_report_completed then
    return query
    with settled as (
      update public.background_jobs j
         set status = 'completed',
             result = nullif(p_outcomes -> (j.id::text) -> 'result', 'null'::jsonb),
             error = null,
             completed_at = clock_timestamp(),
             failed_at = null,
             duration_ms = greatest(0, (extract(epoch from clock_timestamp() - j.started_at) * 1000)::integer),
             locked_by = null,
             locked_until = null,
             updated_at = now()
       where j.id = any (array(select k::uuid from jsonb_object_keys(p_outcomes) k))
         and j.status = 'processing' and j.locked_by = p_worker
      returning j.id
    )
    select k::uuid, 'lost'::text, null::text, null::timestamptz, null::integer
      from jsonb_object_keys(p_outcomes) k
     where not exists (select from settled s where s.id = k::uuid);
    return;
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

revoke execute on function public.settle_webhook_round(text, jsonb, double precision, double precision, text, integer,
  integer, boolean) from public, anon, authenticated;
grant execute on function public.settle_webhook_round(text, jsonb, double precision, double precision, text, integer,
  integer, boolean) to service_role;
