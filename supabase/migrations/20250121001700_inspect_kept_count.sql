-- webhook-router: a quick event's inspection reads the kept workspace count too.
--
-- inspect_webhook_delivery (quick events: inspect, inline work, record) still counted the
-- repository's active workspaces from the links on every call, and gathered their ids, for a
-- repository in 500 workspaces 500 ids only to answer "too many to handle inline". It now reads
-- the count kept in webhook_repository_workspace_counts (20250121001600) under the same rule as
-- receive_webhook_delivery: trusted only when above zero and exactly one repository row matches.
-- A trusted count above the caller's id limit is the answer (the delivery is queued; its job looks
-- the workspaces up when it runs); otherwise the ids are gathered from the links as before and
-- their number is the count, so inline work never runs on a stale count.
-- receive_webhook_delivery keeps its own copy of this lookup inline: a function call per queued
-- delivery is what 20250121001600 measured away.

-- The kept count of the one repository row a delivery matches (webhook_affected_workspaces'
-- match), or null where it must be counted from the links: no row, two rows (an id match and a
-- name-only match may share workspaces), or a kept count of zero or none (possibly stale).
create or replace function public.webhook_kept_workspace_count(
  p_repository_github_id bigint,
  p_repository text
)
returns integer
language plpgsql
stable
set search_path = public
as $$
declare
  v_repositories integer;
  v_count integer;
begin
  select count(*)::integer, coalesce(sum(c.active_workspaces), 0)::integer into v_repositories, v_count
    from public.repositories r
    left join public.webhook_repository_workspace_counts c on c.repository_id = r.id
   where r.github_id = p_repository_github_id
      or (r.github_id is null and r.full_name = p_repository and p_repository is not null);
  return case when v_repositories = 1 and v_count > 0 then v_count end;
end;
$$;

create or replace function public.inspect_webhook_delivery(
  p_delivery_id text,
  p_body_sha256 text,
  p_repository_github_id bigint,
  p_repository text,
  p_id_limit integer
)
returns table (already_recorded boolean, workspace_count integer, workspace_ids uuid[])
language plpgsql
stable
set search_path = public
as $$
declare
  v_count integer := public.webhook_kept_workspace_count(p_repository_github_id, p_repository);
  v_ids uuid[];
begin
  if v_count is null or v_count <= p_id_limit then
    select coalesce(array_agg(a.workspace_id), '{}') into v_ids
      from public.webhook_affected_workspaces(p_repository_github_id, p_repository) a;
    v_count := cardinality(v_ids);
  end if;
  return query select
    exists (select 1 from public.webhook_find_delivery(p_delivery_id, decode(p_body_sha256, 'hex'))),
    v_count,
    case when v_count <= p_id_limit then v_ids end;
end;
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.webhook_kept_workspace_count(bigint, text)',
    'public.inspect_webhook_delivery(text, text, bigint, text, integer)'
  ] loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
