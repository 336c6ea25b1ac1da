-- webhook-router: the receive path's tables and SQL functions.
-- Runs on an empty Postgres, on Supabase next to the host app, and on PGlite.

-- Supabase has these roles; plain Postgres and PGlite do not. Create them only where absent so
-- the grants below mean the same thing everywhere.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then create role anon nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then create role service_role nologin bypassrls; end if;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Host-app tables: created only if absent, so we never alter a real app's definitions.
-- ---------------------------------------------------------------------------------------------
do $$
begin
  -- Tables we create are ours to lock down: on Supabase, new public tables are otherwise open
  -- to anon and authenticated. A host app's existing tables keep their own policies.
  if to_regclass('public.repositories') is null then
    create table public.repositories (
      id uuid primary key default gen_random_uuid(),
      github_id bigint unique,
      full_name text not null unique,
      created_at timestamptz not null default now()
    );
    alter table public.repositories enable row level security;
    revoke all on public.repositories from public, anon, authenticated;
  end if;

  if to_regclass('public.workspaces') is null then
    create table public.workspaces (
      id uuid primary key default gen_random_uuid(),
      name text not null default '',
      is_active boolean not null default true,
      created_at timestamptz not null default now()
    );
    alter table public.workspaces enable row level security;
    revoke all on public.workspaces from public, anon, authenticated;
  end if;

  if to_regclass('public.workspace_repositories') is null then
    create table public.workspace_repositories (
      workspace_id uuid not null references public.workspaces (id) on delete cascade,
      repository_id uuid not null references public.repositories (id) on delete cascade,
      created_at timestamptz not null default now(),
      primary key (workspace_id, repository_id)
    );
    alter table public.workspace_repositories enable row level security;
    revoke all on public.workspace_repositories from public, anon, authenticated;
  end if;

  if to_regclass('public.workspace_metrics_cache') is null then
    create table public.workspace_metrics_cache (
      workspace_id uuid primary key references public.workspaces (id) on delete cascade,
      is_stale boolean not null default false,
      stale_since timestamptz,
      updated_at timestamptz not null default now()
    );
    alter table public.workspace_metrics_cache enable row level security;
    revoke all on public.workspace_metrics_cache from public, anon, authenticated;
  end if;
end
$$;
grant all on public.repositories, public.workspaces, public.workspace_repositories,
  public.workspace_metrics_cache to service_role;

-- Counting honours is_active; an older host schema may lack it.
alter table public.workspaces add column if not exists is_active boolean not null default true;
create index if not exists workspace_repositories_repository_idx
  on public.workspace_repositories (repository_id);

do $$
begin
  if to_regprocedure('public.mark_workspace_cache_stale(uuid)') is null then
    create function public.mark_workspace_cache_stale(workspace_id uuid)
    returns void
    language sql
    as $body$
      -- Idempotent: a second call keeps the first stale_since.
      insert into public.workspace_metrics_cache as c (workspace_id, is_stale, stale_since, updated_at)
      values (workspace_id, true, now(), now())
      on conflict (workspace_id) do update
        set is_stale = true,
            stale_since = coalesce(c.stale_since, excluded.stale_since),
            updated_at = now();
    $body$;
    revoke execute on function public.mark_workspace_cache_stale(uuid) from public, anon, authenticated;
    grant execute on function public.mark_workspace_cache_stale(uuid) to service_role;
  end if;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- The queue.
-- ---------------------------------------------------------------------------------------------
create table if not exists public.background_jobs (
  id uuid primary key default gen_random_uuid(),
  type text not null,
  payload jsonb not null,
  status text not null default 'queued'
    constraint background_jobs_status_check
    check (status in ('queued', 'processing', 'completed', 'failed', 'cancelled')),
  result jsonb,
  error text,
  retry_count integer not null default 0 check (retry_count >= 0),
  max_retries integer not null default 5 check (max_retries >= 0),
  -- Lower runs first: pull_request and issues before push.
  priority integer not null default 100,
  run_at timestamptz not null default now(),
  locked_by text,
  locked_until timestamptz,
  workspace_count integer,
  repository text,
  repository_github_id bigint,
  -- Set while a push job may still absorb later pushes of the same repository; cleared on claim.
  coalesce_key text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  failed_at timestamptz,
  duration_ms integer
);

-- "Ready to claim, by priority then time".
create index if not exists background_jobs_claim_idx
  on public.background_jobs (priority, run_at)
  where status = 'queued';
-- Leases to take back after a crashed drain.
create index if not exists background_jobs_lease_idx
  on public.background_jobs (locked_until)
  where status = 'processing';
-- At most one absorbing job per key; the receive path's ON CONFLICT relies on it.
create unique index if not exists background_jobs_coalesce_idx
  on public.background_jobs (coalesce_key)
  where coalesce_key is not null;
create index if not exists background_jobs_type_created_idx
  on public.background_jobs (type, created_at);
create index if not exists background_jobs_failed_idx
  on public.background_jobs (failed_at)
  where status = 'failed';

-- One row per GitHub delivery GUID: the dedup key, and monitoring of inline traffic too.
create table if not exists public.webhook_deliveries (
  delivery_id text primary key,
  event text not null,
  action text,
  repository text,
  repository_github_id bigint,
  -- inline | queued | coalesced | no_workspace | ignored
  route text not null
    constraint webhook_deliveries_route_check
    check (route in ('inline', 'queued', 'coalesced', 'no_workspace', 'ignored')),
  status_code integer not null,
  response_ms integer,
  workspace_count integer,
  job_id uuid references public.background_jobs (id) on delete set null,
  received_at timestamptz not null default now()
);
create index if not exists webhook_deliveries_received_idx on public.webhook_deliveries (received_at);
create index if not exists webhook_deliveries_job_idx on public.webhook_deliveries (job_id);

-- ---------------------------------------------------------------------------------------------
-- Private data: only service_role reads or writes.
-- ---------------------------------------------------------------------------------------------
alter table public.background_jobs enable row level security;
alter table public.webhook_deliveries enable row level security;
revoke all on public.background_jobs, public.webhook_deliveries from public, anon, authenticated;
grant all on public.background_jobs, public.webhook_deliveries to service_role;
drop policy if exists background_jobs_service_role on public.background_jobs;
create policy background_jobs_service_role on public.background_jobs
  for all to service_role using (true) with check (true);
drop policy if exists webhook_deliveries_service_role on public.webhook_deliveries;
create policy webhook_deliveries_service_role on public.webhook_deliveries
  for all to service_role using (true) with check (true);

-- ---------------------------------------------------------------------------------------------
-- The active workspaces that track a repository (by GitHub id, or by name for rows without one).
-- ---------------------------------------------------------------------------------------------
create or replace function public.webhook_affected_workspaces(
  p_repository_github_id bigint,
  p_repository text
)
returns table (workspace_id uuid)
language sql
stable
set search_path = public
as $$
  select distinct wr.workspace_id
  from public.repositories r
  join public.workspace_repositories wr on wr.repository_id = r.id
  join public.workspaces w on w.id = wr.workspace_id and w.is_active
  where r.github_id = p_repository_github_id
     or (r.full_name = p_repository and p_repository is not null)
  order by wr.workspace_id;
$$;

-- Cache invalidation for many workspaces in one round trip, through the host's own function.
create or replace function public.mark_workspaces_cache_stale(p_workspace_ids uuid[])
returns integer
language plpgsql
set search_path = public
as $$
declare
  v_id uuid;
  v_count integer := 0;
begin
  foreach v_id in array coalesce(p_workspace_ids, '{}') loop
    perform public.mark_workspace_cache_stale(v_id);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Receive path, round trip 1: has this GUID been recorded, and how many active workspaces track
-- the repository? Ids come back only up to p_id_limit (inline work needs them; queued work
-- looks them up again when it runs).
-- ---------------------------------------------------------------------------------------------
create or replace function public.inspect_webhook_delivery(
  p_delivery_id text,
  p_repository_github_id bigint,
  p_repository text,
  p_id_limit integer
)
returns table (already_recorded boolean, workspace_count integer, workspace_ids uuid[])
language sql
stable
set search_path = public
as $$
  with affected as (
    select a.workspace_id from public.webhook_affected_workspaces(p_repository_github_id, p_repository) a
  )
  select
    exists (select 1 from public.webhook_deliveries d where d.delivery_id = p_delivery_id),
    (select count(*)::integer from affected),
    case when (select count(*) from affected) <= p_id_limit
      then coalesce((select array_agg(a.workspace_id) from affected a), '{}')
    end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Receive path, round trip 2: record the delivery and, when queued, insert or coalesce its job,
-- in one transaction. A GUID seen before returns duplicate = true and changes nothing.
-- ---------------------------------------------------------------------------------------------
create or replace function public.record_webhook_delivery(
  p_delivery_id text,
  p_event text,
  p_action text,
  p_repository text,
  p_repository_github_id bigint,
  p_route text,
  p_status_code integer,
  p_response_ms integer,
  p_workspace_count integer,
  p_job jsonb default null
)
returns table (duplicate boolean, job_id uuid, coalesced boolean)
language plpgsql
set search_path = public
as $$
declare
  v_job_id uuid;
  v_inserted boolean;
  v_key text;
begin
  insert into public.webhook_deliveries as d (
    delivery_id, event, action, repository, repository_github_id, route, status_code,
    response_ms, workspace_count)
  values (p_delivery_id, p_event, p_action, p_repository, p_repository_github_id, p_route,
    p_status_code, p_response_ms, p_workspace_count)
  on conflict (delivery_id) do nothing;

  if not found then
    return query
      select true, d.job_id, false from public.webhook_deliveries d
      where d.delivery_id = p_delivery_id;
    return;
  end if;

  if p_job is null then
    return query select false, null::uuid, false;
    return;
  end if;

  v_key := p_job ->> 'coalesce_key';
  insert into public.background_jobs as j (
    type, payload, priority, max_retries, workspace_count, repository, repository_github_id,
    coalesce_key, run_at)
  values (
    p_job ->> 'type',
    (p_job -> 'payload') || jsonb_build_object('delivery_ids', jsonb_build_array(p_delivery_id)),
    coalesce((p_job ->> 'priority')::integer, 100),
    coalesce((p_job ->> 'max_retries')::integer, 5),
    p_workspace_count, p_repository, p_repository_github_id, v_key,
    -- A debounce window: the job waits so later pushes can join it. Joining never extends it,
    -- so a steady stream of pushes cannot starve the job.
    now() + make_interval(secs => coalesce((p_job ->> 'delay_seconds')::double precision, 0)))
  on conflict (coalesce_key) where coalesce_key is not null do update
    -- The newest push describes the repository's head; every GUID stays linked.
    set payload = excluded.payload
          || jsonb_build_object('delivery_ids',
               coalesce(j.payload -> 'delivery_ids', '[]'::jsonb) || to_jsonb(p_delivery_id)),
        workspace_count = excluded.workspace_count,
        updated_at = now()
  returning j.id, (xmax = 0) into v_job_id, v_inserted;

  update public.webhook_deliveries d
     set job_id = v_job_id,
         route = case when v_inserted then d.route else 'coalesced' end
   where d.delivery_id = p_delivery_id;

  return query select false, v_job_id, not v_inserted;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Monitoring: one row per job type, so the design document's query runs as written:
--   SELECT * FROM get_job_statistics_summary() WHERE type LIKE 'webhook/%';
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
language sql
stable
set search_path = public
as $$
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
  where p_since is null or j.created_at >= p_since
  group by j.type
  order by j.type;
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.webhook_affected_workspaces(bigint, text)',
    'public.mark_workspaces_cache_stale(uuid[])',
    'public.inspect_webhook_delivery(text, bigint, text, integer)',
    'public.record_webhook_delivery(text, text, text, text, bigint, text, integer, integer, integer, jsonb)',
    'public.get_job_statistics_summary(timestamptz)'
  ] loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
