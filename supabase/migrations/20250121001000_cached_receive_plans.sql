-- webhook-router: the receive path's helpers keep their query plans.
--
-- PostgreSQL never inlines a SQL-language function that has a SET clause, and (before version 18)
-- parses and plans such a function's body again on every call. The dedup lookup and the workspace
-- lookup run for every delivery, from inside receive_webhook_delivery and friends: profiled with
-- perf under pgbench, parsing and planning them took about 40 % of the database's time per queued
-- delivery. A PL/pgSQL function keeps each statement's plan for the session, so the same queries
-- (unchanged) are now PL/pgSQL, and so is inspect_webhook_delivery, which calls both.

create or replace function public.webhook_affected_workspaces(
  p_repository_github_id bigint,
  p_repository text
)
returns table (workspace_id uuid)
language plpgsql
stable
set search_path = public
as $$
begin
  -- Matched by GitHub id; by name only where the stored row has no GitHub id (see 20250121000600).
  return query
  select distinct wr.workspace_id
  from public.repositories r
  join public.workspace_repositories wr on wr.repository_id = r.id
  join public.workspaces w on w.id = wr.workspace_id and w.is_active
  where r.github_id = p_repository_github_id
     or (r.github_id is null and r.full_name = p_repository and p_repository is not null)
  order by wr.workspace_id;
end;
$$;

create or replace function public.webhook_find_delivery(p_delivery_id text, p_body_sha256 bytea)
returns table (delivery_id text, job_id uuid, reason text)
language plpgsql
stable
set search_path = public
as $$
begin
  return query
  (select d.delivery_id, d.job_id, 'delivery_id'::text from public.webhook_deliveries d
    where d.delivery_id = p_delivery_id)
  union all
  (select d.delivery_id, d.job_id, 'body'::text from public.webhook_deliveries d
    where p_body_sha256 is not null and d.body_sha256 = p_body_sha256)
  limit 1;
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
  v_ids uuid[];
begin
  select coalesce(array_agg(a.workspace_id), '{}') into v_ids
    from public.webhook_affected_workspaces(p_repository_github_id, p_repository) a;
  return query select
    exists (select 1 from public.webhook_find_delivery(p_delivery_id, decode(p_body_sha256, 'hex'))),
    cardinality(v_ids),
    case when cardinality(v_ids) <= p_id_limit then v_ids end;
end;
$$;
