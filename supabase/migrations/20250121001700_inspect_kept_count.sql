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
-- The lookup is a statement here, as in receive_webhook_delivery, not a function of its own: a
-- call with its own SET search_path per delivery is what 20250121001600 measured away.
-- pgbench, one client, prepared statements, limit 10: a repository in 500 workspaces 0.36-0.40 ms
-- -> 0.12-0.13 ms per inspection; in 5 workspaces 0.22-0.25 -> 0.24-0.26 ms (the extra lookup).

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
  v_repositories integer;
  v_count integer;
  v_ids uuid[];
begin
  -- Synchronous mode asks for every id (the integer maximum): no kept count can spare it the links.
  if p_id_limit < 2147483647 then
    select count(*)::integer, sum(c.active_workspaces)::integer into v_repositories, v_count
      from public.repositories r
      left join public.webhook_repository_workspace_counts c on c.repository_id = r.id
     where r.github_id = p_repository_github_id
        or (r.github_id is null and r.full_name = p_repository and p_repository is not null);
  end if;
  -- Gathered unless one repository row's kept count is above zero and above the limit.
  if v_repositories is distinct from 1 or coalesce(v_count, 0) <= greatest(p_id_limit, 0) then
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

revoke execute on function public.inspect_webhook_delivery(text, text, bigint, text, integer) from public, anon, authenticated;
grant execute on function public.inspect_webhook_delivery(text, text, bigint, text, integer) to service_role;
