-- webhook-router: the receive path in one round trip, lean jobs, per-ref push coalescing, and
-- the marker that turns a burst of queued deliveries into one drain invocation.

-- ---------------------------------------------------------------------------------------------
-- A repository is matched by GitHub id; by name only where the stored row has no GitHub id.
-- Matching by name as well sent a delivery for repository 999999 named o/r to the workspaces of
-- the stored o/r with id 777: renamed, transferred and recreated repositories reuse names.
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
     or (r.github_id is null and r.full_name = p_repository and p_repository is not null)
  order by wr.workspace_id;
$$;

-- ---------------------------------------------------------------------------------------------
-- The drain marker: one row saying "a drain is running (or was just kicked) until held_until".
-- An enqueue kicks the drain only when the marker is free, and takes it for a few seconds so the
-- rest of a burst does not kick again; the drain keeps it while it runs and frees it when it ends.
--
-- Enqueues read the marker under a shared advisory lock and the drain frees it under the
-- exclusive one, then counts what is ready: every enqueue either committed before that count (the
-- drain sees its job and goes on) or reads the freed marker afterwards (and kicks). No job can
-- fall between a drain that is ending and a kick that was skipped.
-- ---------------------------------------------------------------------------------------------
create table if not exists public.webhook_drain_marker (
  id boolean primary key default true constraint webhook_drain_marker_single_row check (id),
  held_by text,
  held_until timestamptz
);
insert into public.webhook_drain_marker (id) values (true) on conflict (id) do nothing;
alter table public.webhook_drain_marker enable row level security;
revoke all on public.webhook_drain_marker from public, anon, authenticated;
grant all on public.webhook_drain_marker to service_role;
drop policy if exists webhook_drain_marker_service_role on public.webhook_drain_marker;
create policy webhook_drain_marker_service_role on public.webhook_drain_marker
  for all to service_role using (true) with check (true);

create or replace function public.webhook_drain_marker_lock_key()
returns bigint
language sql
immutable
as $$ select 7264513390155421000::bigint $$;

-- Called inside the enqueue's transaction: true when this enqueue should kick the drain.
create or replace function public.take_drain_kick(p_hold_seconds integer)
returns boolean
language plpgsql
set search_path = public
as $$
declare
  v_taken boolean;
begin
  perform pg_advisory_xact_lock_shared(public.webhook_drain_marker_lock_key());
  -- While the marker is held the WHERE clause is false and no row lock is taken: a burst of
  -- enqueues does not queue up on this row.
  update public.webhook_drain_marker m
     set held_by = 'kick', held_until = now() + make_interval(secs => p_hold_seconds)
   where m.id and (m.held_until is null or m.held_until < now())
  returning true into v_taken;
  return coalesce(v_taken, false);
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Push payloads coalesced into one job. Pushes of one repository and ref join one job while it
-- waits out its debounce window: the earliest push's `before`, the newest push's `after` and
-- head (by repository.pushed_at, so an old redelivered push cannot overwrite a newer head), every
-- delivery GUID, and the commits of all of them.
-- ---------------------------------------------------------------------------------------------
-- A push's repository.pushed_at is epoch seconds; GitHub's types also allow a string (an ISO time).
create or replace function public.webhook_epoch(p_value jsonb)
returns numeric
language plpgsql
stable
as $$
begin
  if jsonb_typeof(p_value) = 'number' then
    return (p_value #>> '{}')::numeric;
  elsif jsonb_typeof(p_value) = 'string' then
    begin
      return extract(epoch from (p_value #>> '{}')::timestamptz)::numeric;
    exception when others then
      return null; -- not a time: ordered as if absent (arrival order)
    end;
  end if;
  return null;
end;
$$;

create or replace function public.webhook_merge_push_payload(p_job jsonb, p_new jsonb, p_delivery_id text)
returns jsonb
language sql
stable
as $$
  with t as (
    select
      coalesce(public.webhook_epoch(p_new #> '{data,repository,pushed_at}'), 'infinity'::numeric) as new_at,
      coalesce(public.webhook_epoch(p_job #> '{data,repository,pushed_at}'), '-infinity'::numeric) as last_at,
      coalesce(public.webhook_epoch(p_job -> 'first_pushed_at'), public.webhook_epoch(p_job #> '{data,repository,pushed_at}'),
               '-infinity'::numeric) as first_at
  )
  select
    p_job
    || jsonb_build_object(
         'delivery_ids',
         case when coalesce(p_job -> 'delivery_ids', '[]'::jsonb) ? p_delivery_id
              then p_job -> 'delivery_ids'
              else coalesce(p_job -> 'delivery_ids', '[]'::jsonb) || to_jsonb(p_delivery_id) end,
         'commit_count',
         coalesce((p_job ->> 'commit_count')::integer, 0) + coalesce((p_new ->> 'commit_count')::integer, 0),
         'first_pushed_at',
         case when t.new_at < t.first_at then p_new #> '{data,repository,pushed_at}'
              else coalesce(p_job -> 'first_pushed_at', p_job #> '{data,repository,pushed_at}') end,
         'data',
         (case when t.new_at >= t.last_at
               then (p_job -> 'data') || (p_new -> 'data') || jsonb_build_object('before', p_job #> '{data,before}')
               else p_job -> 'data' end)
         || case when t.new_at < t.first_at then jsonb_build_object('before', p_new #> '{data,before}')
                 else '{}'::jsonb end)
  from t;
$$;

-- Most deliveries a push job absorbs; the next push of that ref starts a new job. Keeps a job
-- (and a claim round of them) bounded in size.
create or replace function public.webhook_max_coalesced()
returns integer
language sql
immutable
as $$ select 100 $$;

-- Inserts a delivery's job, or folds a push into the waiting job of its repository and ref.
create or replace function public.enqueue_webhook_job(
  p_delivery_id text,
  p_job jsonb,
  p_workspace_count integer,
  p_repository text,
  p_repository_github_id bigint
)
returns table (job_id uuid, coalesced boolean)
language plpgsql
set search_path = public
as $$
declare
  v_key text := p_job ->> 'coalesce_key';
  v_payload jsonb := (p_job -> 'payload')
    || jsonb_build_object('delivery_ids', jsonb_build_array(p_delivery_id));
  v_job_id uuid;
  v_inserted boolean;
begin
  if v_key is not null then
    -- A full job stops absorbing: the next push of its ref gets a job of its own.
    update public.background_jobs j set coalesce_key = null, updated_at = now()
     where j.coalesce_key = v_key
       and jsonb_array_length(coalesce(j.payload -> 'delivery_ids', '[]'::jsonb)) >= public.webhook_max_coalesced();
    v_payload := v_payload || jsonb_build_object('first_pushed_at', v_payload #> '{data,repository,pushed_at}');
  end if;

  insert into public.background_jobs as j (
    type, payload, priority, max_retries, workspace_count, repository, repository_github_id,
    coalesce_key, run_at)
  values (
    p_job ->> 'type',
    v_payload,
    coalesce((p_job ->> 'priority')::integer, 100),
    coalesce((p_job ->> 'max_retries')::integer, 5),
    p_workspace_count, p_repository, p_repository_github_id, v_key,
    -- A debounce window: the job waits so later pushes can join it. Joining never extends it,
    -- so a steady stream of pushes cannot starve the job.
    now() + make_interval(secs => coalesce((p_job ->> 'delay_seconds')::double precision, 0)))
  on conflict (coalesce_key) where coalesce_key is not null do update
    set payload = public.webhook_merge_push_payload(j.payload, excluded.payload, p_delivery_id),
        workspace_count = excluded.workspace_count,
        updated_at = now()
  returning j.id, (xmax = 0) into v_job_id, v_inserted;

  return query select v_job_id, not v_inserted;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Duplicates: the same GUID again (a redelivery), or the same signed body under another GUID (a
-- replayed or relabelled capture, or a repository hook and an organization hook delivering the
-- same event). Each is recorded so operators see them; none does any work.
-- ---------------------------------------------------------------------------------------------
create or replace function public.webhook_find_delivery(p_delivery_id text, p_body_sha256 bytea)
returns table (delivery_id text, job_id uuid, reason text)
language sql
stable
set search_path = public
as $$
  (select d.delivery_id, d.job_id, 'delivery_id'::text from public.webhook_deliveries d
    where d.delivery_id = p_delivery_id)
  union all
  (select d.delivery_id, d.job_id, 'body'::text from public.webhook_deliveries d
    where p_body_sha256 is not null and d.body_sha256 = p_body_sha256)
  limit 1;
$$;

create or replace function public.webhook_insert_duplicate(
  p_delivery_id text,
  p_duplicate_of text,
  p_reason text,
  p_event text,
  p_response_ms integer
)
returns void
language sql
set search_path = public
as $$
  insert into public.webhook_delivery_duplicates (delivery_id, duplicate_of, reason, event, status_code, response_ms)
  values (p_delivery_id, p_duplicate_of, p_reason, p_event, 200, p_response_ms);
$$;

-- For a delivery answered before it could be recorded (a known body the event header does not fit,
-- a quick event found known): files it as a duplicate if its GUID or body is known; no row if not.
create or replace function public.record_webhook_duplicate(
  p_delivery_id text,
  p_body_sha256 text,
  p_event text,
  p_response_ms integer
)
returns table (duplicate_of text, reason text)
language plpgsql
set search_path = public
as $$
declare
  v_found record;
begin
  select * into v_found from public.webhook_find_delivery(p_delivery_id, decode(p_body_sha256, 'hex'));
  if not found then
    return;
  end if;
  perform public.webhook_insert_duplicate(p_delivery_id, v_found.delivery_id, v_found.reason, p_event, p_response_ms);
  return query select v_found.delivery_id, v_found.reason;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Bodies are identified by their SHA-256 in hex (text travels the same through postgres.js,
-- PGlite and PostgREST); the column stores the 32 bytes.
--
-- Quick events, round trip 1: is this delivery (GUID or body) known, and which active workspaces
-- track the repository? Ids come back only up to p_id_limit (inline work needs them).
-- ---------------------------------------------------------------------------------------------
drop function if exists public.inspect_webhook_delivery(text, bigint, text, integer);
create or replace function public.inspect_webhook_delivery(
  p_delivery_id text,
  p_body_sha256 text,
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
    exists (select 1 from public.webhook_find_delivery(p_delivery_id, decode(p_body_sha256, 'hex'))),
    (select count(*)::integer from affected),
    case when (select count(*) from affected) <= p_id_limit
      then coalesce((select array_agg(a.workspace_id) from affected a), '{}')
    end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Record a delivery (and, with p_job, enqueue or coalesce its job) in one transaction. A known
-- GUID or body records a duplicate instead and changes nothing else. With p_job, `kick` says
-- whether this caller should start the drain (see take_drain_kick); with p_kick_hold_seconds null
-- the job starts no drain (a quick event's safety net, finished by finish_inline_delivery).
-- ---------------------------------------------------------------------------------------------
drop function if exists public.record_webhook_delivery(text, text, text, text, bigint, text, integer, integer, integer, jsonb);
create or replace function public.record_webhook_delivery(
  p_delivery_id text,
  p_body_sha256 text,
  p_event text,
  p_action text,
  p_repository text,
  p_repository_github_id bigint,
  p_route text,
  p_status_code integer,
  p_response_ms integer,
  p_workspace_count integer,
  p_job jsonb default null,
  p_kick_hold_seconds integer default 10
)
returns table (duplicate boolean, duplicate_of text, job_id uuid, coalesced boolean, kick boolean)
language plpgsql
set search_path = public
as $$
declare
  v_hash bytea := decode(p_body_sha256, 'hex');
  v_found record;
  v_job record;
begin
  insert into public.webhook_deliveries as d (
    delivery_id, body_sha256, event, action, repository, repository_github_id, route, status_code,
    response_ms, workspace_count)
  values (p_delivery_id, v_hash, p_event, p_action, p_repository, p_repository_github_id,
    p_route, p_status_code, p_response_ms, p_workspace_count)
  on conflict do nothing;

  if not found then
    select * into v_found from public.webhook_find_delivery(p_delivery_id, v_hash);
    perform public.webhook_insert_duplicate(p_delivery_id, coalesce(v_found.delivery_id, p_delivery_id),
      coalesce(v_found.reason, 'delivery_id'), p_event, p_response_ms);
    return query select true, v_found.delivery_id, v_found.job_id, false, false;
    return;
  end if;

  if p_job is null then
    return query select false, null::text, null::uuid, false, false;
    return;
  end if;

  select * into v_job from public.enqueue_webhook_job(p_delivery_id, p_job, p_workspace_count,
    p_repository, p_repository_github_id);
  update public.webhook_deliveries d
     set job_id = v_job.job_id,
         route = case when v_job.coalesced then 'coalesced' else d.route end
   where d.delivery_id = p_delivery_id;

  return query select false, null::text, v_job.job_id, v_job.coalesced,
    case when p_kick_hold_seconds is null then false else public.take_drain_kick(p_kick_hold_seconds) end;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Quick events are recorded before their inline work, with their job as a safety net that no
-- drain may run yet (run_at in the future, no kick): two copies of one body (a repository hook and
-- an organization hook) cannot both do the work, and a receiver that dies mid-work leaves a job
-- that runs later. After the work: the job is deleted (an inline delivery leaves no job, as it
-- never queued one), or — the work failed — queued now, the delivery marked queued, a drain kicked.
-- ---------------------------------------------------------------------------------------------
create or replace function public.finish_inline_delivery(
  p_delivery_id text,
  p_job_id uuid,
  p_succeeded boolean,
  p_response_ms integer,
  p_kick_hold_seconds integer default 10
)
returns table (finished boolean, kick boolean)
language plpgsql
set search_path = public
as $$
declare
  v_done boolean;
begin
  if p_succeeded then
    delete from public.background_jobs j where j.id = p_job_id and j.status = 'queued'
    returning true into v_done;
    update public.webhook_deliveries d set response_ms = p_response_ms where d.delivery_id = p_delivery_id;
    return query select coalesce(v_done, false), false;
    return;
  end if;
  update public.background_jobs j set run_at = now(), updated_at = now()
   where j.id = p_job_id and j.status = 'queued'
  returning true into v_done;
  update public.webhook_deliveries d set route = 'queued', status_code = 202, response_ms = p_response_ms
   where d.delivery_id = p_delivery_id;
  return query select coalesce(v_done, false), public.take_drain_kick(p_kick_hold_seconds);
end;
$$;

-- A kick that failed (the drain unreachable) gives the marker back, so the next delivery kicks
-- again instead of waiting out the hold; a drain that took the marker over keeps it.
create or replace function public.free_drain_kick()
returns void
language sql
set search_path = public
as $$
  update public.webhook_drain_marker m set held_by = null, held_until = null where m.id and m.held_by = 'kick';
$$;

-- ---------------------------------------------------------------------------------------------
-- Queued events in one round trip: dedup, count the affected workspaces, record, and enqueue or
-- coalesce. A repository no active workspace tracks is recorded as no_workspace (200) and
-- queues nothing: for events that are not quick, that is the routing policy's only other
-- answer (src/shared/routing/policy.ts; the tests hold the two to the same table).
-- ---------------------------------------------------------------------------------------------
create or replace function public.receive_webhook_delivery(
  p_delivery_id text,
  p_body_sha256 text,
  p_event text,
  p_action text,
  p_repository text,
  p_repository_github_id bigint,
  p_response_ms integer,
  p_job jsonb,
  p_kick_hold_seconds integer default 10
)
returns table (duplicate boolean, duplicate_of text, route text, status_code integer,
  workspace_count integer, job_id uuid, coalesced boolean, kick boolean)
language plpgsql
set search_path = public
as $$
declare
  v_found record;
  v_count integer;
  v_route text;
  v_status integer;
  v_rec record;
begin
  select * into v_found from public.webhook_find_delivery(p_delivery_id, decode(p_body_sha256, 'hex'));
  if found then
    perform public.webhook_insert_duplicate(p_delivery_id, v_found.delivery_id, v_found.reason, p_event, p_response_ms);
    return query select true, v_found.delivery_id, null::text, 200, null::integer, v_found.job_id, false, false;
    return;
  end if;

  select count(*)::integer into v_count
    from public.webhook_affected_workspaces(p_repository_github_id, p_repository);
  if v_count = 0 then
    v_route := 'no_workspace';
    v_status := 200;
  else
    v_route := 'queued';
    v_status := 202;
  end if;

  select * into v_rec from public.record_webhook_delivery(p_delivery_id, p_body_sha256, p_event,
    p_action, p_repository, p_repository_github_id, v_route, v_status, p_response_ms, v_count,
    case when v_count = 0 then null else p_job end, p_kick_hold_seconds);
  if v_rec.duplicate then
    -- Another copy was recorded between the lookup and the insert.
    return query select true, v_rec.duplicate_of, null::text, 200, null::integer, v_rec.job_id, false, false;
    return;
  end if;
  return query select false, null::text,
    case when v_rec.coalesced then 'coalesced' else v_route end,
    v_status, v_count, v_rec.job_id, v_rec.coalesced, v_rec.kick;
end;
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.webhook_affected_workspaces(bigint, text)',
    'public.webhook_drain_marker_lock_key()',
    'public.webhook_max_coalesced()',
    'public.webhook_epoch(jsonb)',
    'public.finish_inline_delivery(text, uuid, boolean, integer, integer)',
    'public.free_drain_kick()',
    'public.take_drain_kick(integer)',
    'public.webhook_merge_push_payload(jsonb, jsonb, text)',
    'public.enqueue_webhook_job(text, jsonb, integer, text, bigint)',
    'public.webhook_find_delivery(text, bytea)',
    'public.webhook_insert_duplicate(text, text, text, text, integer)',
    'public.record_webhook_duplicate(text, text, text, integer)',
    'public.inspect_webhook_delivery(text, text, bigint, text, integer)',
    'public.record_webhook_delivery(text, text, text, text, text, bigint, text, integer, integer, integer, jsonb, integer)',
    'public.receive_webhook_delivery(text, text, text, text, text, bigint, integer, jsonb, integer)'
  ] loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
