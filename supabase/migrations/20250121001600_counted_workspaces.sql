-- webhook-router: a queued delivery's workspace count is read, not counted, and its receive is
-- one PL/pgSQL function.
--
-- receive_webhook_delivery counted the repository's active workspaces on every delivery: a join
-- of its links to workspaces and a DISTINCT, one workspaces probe per link. For a repository in
-- 100 workspaces that was ~40 % of the database's time per queued delivery (pgbench, one client:
-- 0.4 of 1.0 ms), and it grows with the workspaces: the popular repositories this router is for
-- paid the most. Each repository's count of active workspaces is now kept in
-- webhook_repository_workspace_counts by triggers on the host app's workspace_repositories and
-- workspaces. The count is only ever trusted when it is above zero: a repository whose kept count
-- is zero or missing is counted as before, so a count gone stale (say the host app recreated its
-- tables without our triggers) never turns a delivery away as no_workspace; one stale above the
-- truth queues a job that finds no workspace and does nothing.
-- `select webhook_recount_workspaces()` reinstalls the triggers and rebuilds every count.
--
-- receive_webhook_delivery also called five functions (the dedup lookup, the count, record,
-- enqueue, the drain kick), each a PL/pgSQL call with its own SET search_path, statements and
-- result set: perf put a fifth of the database's time in executor start-up and GUC save/restore
-- for those calls. A job that cannot coalesce (everything but a push) now runs their statements
-- inline; pushes and repositories no workspace tracks keep record_webhook_delivery's path. pgbench,
-- one client, 21 KB pull request into 100 workspaces, synchronous_commit off: 0.94-1.29 ms before,
-- 0.51-0.82 ms after (BENCHMARKS.md, "This stop").

-- No foreign key to repositories: the host app's TRUNCATE of its tables must not need ours. A
-- deleted repository's row is left at its last count, never matched again (receive looks counts
-- up through repositories), and dropped by the next recount.
create table if not exists public.webhook_repository_workspace_counts (
  repository_id uuid primary key,
  active_workspaces integer not null
);
alter table public.webhook_repository_workspace_counts enable row level security;
revoke all on public.webhook_repository_workspace_counts from public, anon, authenticated;
grant all on public.webhook_repository_workspace_counts to service_role;
drop policy if exists webhook_repository_workspace_counts_service_role on public.webhook_repository_workspace_counts;
create policy webhook_repository_workspace_counts_service_role on public.webhook_repository_workspace_counts
  for all to service_role using (true) with check (true);

-- Every count from the links, exactly as webhook_affected_workspaces counts them (one repository
-- row): after a TRUNCATE, and through webhook_recount_workspaces().
create or replace function public.webhook_count_workspaces_from_links()
returns integer
language plpgsql
security definer
set search_path = public
as $$
declare
  v_rows integer;
begin
  delete from public.webhook_repository_workspace_counts;
  insert into public.webhook_repository_workspace_counts (repository_id, active_workspaces)
  select wr.repository_id, count(*)::integer
    from public.workspace_repositories wr
    join public.workspaces w on w.id = wr.workspace_id and w.is_active
   group by wr.repository_id;
  get diagnostics v_rows = row_count;
  return v_rows;
end;
$$;

-- A link counts while its workspace exists and is active. A link change and an is_active switch
-- of the same workspace serialize on a per-workspace advisory lock (shared for link changes,
-- exclusive for the switch), taken before either reads: whichever commits second sees the other's
-- work, so the two never both miss (or both count) a link. An advisory lock rather than a lock on
-- the workspace row, so the host app's own updates of a workspace never wait on a link change.
-- Under READ COMMITTED (the default, and PostgREST's) the counts stay exact; a REPEATABLE READ
-- transaction reads from its snapshot and can miss a link committed after it began (see README).
create or replace function public.webhook_workspace_lock_key(p_workspace_id uuid)
returns integer
language sql
immutable
as $$ select hashtext(p_workspace_id::text) $$;

create or replace function public.webhook_count_link_change()
returns trigger
language plpgsql
security definer
set search_path = public
as $$
declare
  v_active boolean;
begin
  if tg_op in ('DELETE', 'UPDATE') then
    perform pg_advisory_xact_lock_shared(7264513, public.webhook_workspace_lock_key(old.workspace_id));
    -- A workspace being deleted was already uncounted by its own trigger (it is gone here).
    select w.is_active into v_active from public.workspaces w where w.id = old.workspace_id;
    if coalesce(v_active, false) then
      update public.webhook_repository_workspace_counts c set active_workspaces = c.active_workspaces - 1
       where c.repository_id = old.repository_id;
    end if;
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform pg_advisory_xact_lock_shared(7264513, public.webhook_workspace_lock_key(new.workspace_id));
    select w.is_active into v_active from public.workspaces w where w.id = new.workspace_id;
    if coalesce(v_active, false) then
      insert into public.webhook_repository_workspace_counts as c (repository_id, active_workspaces)
      values (new.repository_id, 1)
      on conflict (repository_id) do update set active_workspaces = c.active_workspaces + 1;
    end if;
  end if;
  return null;
end;
$$;

-- Count rows are changed in repository order, so two switches that share repositories cannot
-- deadlock on them.
create or replace function public.webhook_count_workspace_change()
returns trigger
language plpgsql
security definer
set search_path = public
as $$
declare
  v_delta integer;
  v_workspace uuid;
  v_repository uuid;
begin
  if tg_op = 'DELETE' then
    -- Before the delete, while its links (deleted by the cascade after it) are still there.
    if not coalesce(old.is_active, false) then
      return old;
    end if;
    v_delta := -1;
    v_workspace := old.id;
  else
    -- Fired only when is_active changed (the trigger's WHEN), however the update changed it.
    v_delta := case when coalesce(new.is_active, false) then 1 else -1 end;
    if coalesce(new.is_active, false) = coalesce(old.is_active, false) then
      return null;
    end if;
    v_workspace := new.id;
  end if;
  perform pg_advisory_xact_lock(7264513, public.webhook_workspace_lock_key(v_workspace));
  for v_repository in
    select wr.repository_id from public.workspace_repositories wr where wr.workspace_id = v_workspace order by 1
  loop
    insert into public.webhook_repository_workspace_counts as c (repository_id, active_workspaces)
    values (v_repository, greatest(v_delta, 0))
    on conflict (repository_id) do update set active_workspaces = c.active_workspaces + v_delta;
  end loop;
  return case when tg_op = 'DELETE' then old end;
end;
$$;

create or replace function public.webhook_recount_after_truncate()
returns trigger
language plpgsql
security definer
set search_path = public
as $$
begin
  perform public.webhook_count_workspaces_from_links();
  return null;
end;
$$;

-- Installs the triggers (again, if the host app's tables were recreated without them) and
-- rebuilds every count: what the migration runs, and the repair for operators. Returns the number
-- of repositories counted.
create or replace function public.webhook_recount_workspaces()
returns integer
language plpgsql
security definer
set search_path = public
as $$
begin
  create or replace trigger webhook_count_links
    after insert or delete or update of workspace_id, repository_id on public.workspace_repositories
    for each row execute function public.webhook_count_link_change();
  create or replace trigger webhook_count_workspace_deleted
    before delete on public.workspaces
    for each row execute function public.webhook_count_workspace_change();
  -- Any update that changes is_active, named in its SET list or not (a host trigger may set it).
  create or replace trigger webhook_count_workspace_activity
    after update on public.workspaces
    for each row when (old.is_active is distinct from new.is_active)
    execute function public.webhook_count_workspace_change();
  create or replace trigger webhook_recount_links_truncated
    after truncate on public.workspace_repositories
    for each statement execute function public.webhook_recount_after_truncate();
  create or replace trigger webhook_recount_workspaces_truncated
    after truncate on public.workspaces
    for each statement execute function public.webhook_recount_after_truncate();
  return public.webhook_count_workspaces_from_links();
end;
$$;

select public.webhook_recount_workspaces();

-- ---------------------------------------------------------------------------------------------
-- Queued events in one round trip (see 20250121000600): dedup, count, record, enqueue or
-- coalesce. Same signature, answers and effects as before.
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
  v_hash bytea := decode(p_body_sha256, 'hex');
  v_found record;
  v_repositories integer;
  v_count integer;
  v_job_id uuid;
  v_kick boolean;
  v_rec record;
begin
  -- webhook_find_delivery's two lookups.
  select d.delivery_id, d.job_id, 'delivery_id'::text as reason into v_found
    from public.webhook_deliveries d where d.delivery_id = p_delivery_id;
  if not found and v_hash is not null then
    select d.delivery_id, d.job_id, 'body'::text as reason into v_found
      from public.webhook_deliveries d where d.body_sha256 = v_hash;
  end if;
  if found then
    perform public.webhook_insert_duplicate(p_delivery_id, v_found.delivery_id, v_found.reason, p_event, p_response_ms);
    return query select true, v_found.delivery_id, null::text, 200, null::integer, v_found.job_id, false, false;
    return;
  end if;

  -- The kept count of the one repository row matched (webhook_affected_workspaces' match). Two
  -- rows (an id match and a name-only match) may share workspaces, and a count of zero may be
  -- stale: both are counted from the links.
  select count(*)::integer, coalesce(sum(c.active_workspaces), 0)::integer into v_repositories, v_count
    from public.repositories r
    left join public.webhook_repository_workspace_counts c on c.repository_id = r.id
   where r.github_id = p_repository_github_id
      or (r.github_id is null and r.full_name = p_repository and p_repository is not null);
  if v_repositories > 1 or (v_repositories = 1 and v_count <= 0) then
    select count(*)::integer into v_count
      from public.webhook_affected_workspaces(p_repository_github_id, p_repository);
  end if;

  if v_count = 0 or p_job is null or p_job ->> 'coalesce_key' is not null then
    select * into v_rec from public.record_webhook_delivery(p_delivery_id, p_body_sha256, p_event,
      p_action, p_repository, p_repository_github_id,
      case when v_count = 0 then 'no_workspace' else 'queued' end,
      case when v_count = 0 then 200 else 202 end, p_response_ms, v_count,
      case when v_count = 0 then null else p_job end, p_kick_hold_seconds);
    if v_rec.duplicate then
      -- Another copy was recorded between the lookup and the insert.
      return query select true, v_rec.duplicate_of, null::text, 200, null::integer, v_rec.job_id, false, false;
      return;
    end if;
    return query select false, null::text,
      case when v_rec.coalesced then 'coalesced' when v_count = 0 then 'no_workspace' else 'queued' end,
      case when v_count = 0 then 200 else 202 end, v_count, v_rec.job_id, v_rec.coalesced, v_rec.kick;
    return;
  end if;

  -- enqueue_webhook_job for a job that cannot coalesce, then the delivery linked to it, as
  -- record_webhook_delivery orders them; the delivery's insert is the dedup point.
  insert into public.background_jobs (type, payload, priority, max_retries, workspace_count,
    repository, repository_github_id, run_at)
  values (
    p_job ->> 'type',
    (p_job -> 'payload') || jsonb_build_object('delivery_ids', jsonb_build_array(p_delivery_id)),
    coalesce((p_job ->> 'priority')::integer, 100),
    coalesce((p_job ->> 'max_retries')::integer, 5),
    v_count, p_repository, p_repository_github_id,
    now() + make_interval(secs => coalesce((p_job ->> 'delay_seconds')::double precision, 0)))
  returning id into v_job_id;

  insert into public.webhook_deliveries (delivery_id, body_sha256, event, action, repository,
    repository_github_id, route, status_code, response_ms, workspace_count, job_id)
  values (p_delivery_id, v_hash, p_event, p_action, p_repository, p_repository_github_id,
    'queued', 202, p_response_ms, v_count, v_job_id)
  on conflict do nothing;
  if not found then
    -- Another copy was recorded between the lookup and the insert.
    delete from public.background_jobs j where j.id = v_job_id;
    select * into v_found from public.webhook_find_delivery(p_delivery_id, v_hash);
    perform public.webhook_insert_duplicate(p_delivery_id, coalesce(v_found.delivery_id, p_delivery_id),
      coalesce(v_found.reason, 'delivery_id'), p_event, p_response_ms);
    return query select true, v_found.delivery_id, null::text, 200, null::integer, v_found.job_id, false, false;
    return;
  end if;

  if p_kick_hold_seconds is not null then
    -- take_drain_kick's statements.
    perform pg_advisory_xact_lock_shared(public.webhook_drain_marker_lock_key());
    update public.webhook_drain_marker m
       set held_by = 'kick', held_until = now() + make_interval(secs => p_kick_hold_seconds)
     where m.id and (m.held_until is null or m.held_until < now())
    returning true into v_kick;
  end if;
  return query select false, null::text, 'queued'::text, 202, v_count, v_job_id, false, coalesce(v_kick, false);
end;
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.webhook_recount_workspaces()',
    'public.webhook_count_workspaces_from_links()',
    'public.webhook_count_link_change()',
    'public.webhook_count_workspace_change()',
    'public.webhook_workspace_lock_key(uuid)',
    'public.webhook_recount_after_truncate()',
    'public.receive_webhook_delivery(text, text, text, text, text, bigint, integer, jsonb, integer)'
  ] loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
