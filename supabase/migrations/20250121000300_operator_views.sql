-- webhook-router: what the operator CLI (`webhook-router stats`, `replay --delivery`) reads,
-- as functions so the CLI passes parameters and never builds SQL text.

-- Most active repositories: queued jobs and every recorded delivery (inline traffic too).
create or replace function public.webhook_stats_repositories(p_since timestamptz, p_limit integer default 10)
returns table (repository text, deliveries bigint, queued bigint, inline bigint, unique_actions bigint, max_workspaces integer)
language sql
stable
set search_path = public
as $$
  select d.repository,
         count(*),
         count(*) filter (where d.route in ('queued', 'coalesced')),
         count(*) filter (where d.route = 'inline'),
         count(distinct d.action),
         max(d.workspace_count)
  from public.webhook_deliveries d
  where d.received_at >= p_since and d.repository is not null
  group by d.repository
  order by count(*) desc, d.repository
  limit p_limit;
$$;

-- Inline vs queued: how deliveries were answered and how fast.
create or replace function public.webhook_stats_routes(p_since timestamptz)
returns table (route text, deliveries bigint, avg_response_ms numeric, p95_response_ms numeric)
language sql
stable
set search_path = public
as $$
  select d.route,
         count(*),
         round(avg(d.response_ms), 1),
         round((percentile_cont(0.95) within group (order by d.response_ms))::numeric, 1)
  from public.webhook_deliveries d
  where d.received_at >= p_since
  group by d.route
  order by d.route;
$$;

create or replace function public.webhook_stats_recent_failures(p_since timestamptz, p_limit integer default 20)
returns table (id uuid, type text, repository text, error text, retry_count integer, failed_at timestamptz)
language sql
stable
set search_path = public
as $$
  select j.id, j.type, j.repository, j.error, j.retry_count, j.failed_at
  from public.background_jobs j
  where j.status = 'failed' and j.failed_at >= p_since
  order by j.failed_at desc
  limit p_limit;
$$;

-- Re-run a recorded delivery's job (any final state) with a fresh retry budget. Its effects are
-- idempotent (event ids derive from the delivery or job), so re-running is safe.
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
         set status = 'queued', retry_count = 0, run_at = now(), failed_at = null, error = null,
             locked_by = null, locked_until = null, updated_at = now()
        from target t
       where not p_dry_run and j.id = t.job_id and j.status in ('completed', 'failed', 'cancelled')
      returning j.id
    )
    select t.delivery_id, t.route, t.job_id, t.status,
           exists (select 1 from replayed r where r.id = t.job_id)
    from target t;
end;
$$;

-- Which of these GUIDs we have recorded (redeliver asks GitHub only for the others).
create or replace function public.webhook_recorded_deliveries(p_delivery_ids text[])
returns table (delivery_id text)
language sql
stable
set search_path = public
as $$
  select d.delivery_id from public.webhook_deliveries d where d.delivery_id = any (p_delivery_ids);
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.webhook_stats_repositories(timestamptz, integer)',
    'public.webhook_stats_routes(timestamptz)',
    'public.webhook_stats_recent_failures(timestamptz, integer)',
    'public.replay_webhook_delivery(text, boolean)',
    'public.webhook_recorded_deliveries(text[])'
  ] loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
