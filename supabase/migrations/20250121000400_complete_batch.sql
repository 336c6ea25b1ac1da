-- webhook-router: complete a drain's claimed round in one statement.
--
-- The drain used to call complete_webhook_job once per job: one round trip and one commit (one
-- WAL flush) per job, which capped a drain at a few thousand jobs/s however fast the claim was.
-- A round's successful jobs now complete together, with the same compare-and-set on the lease
-- owner as the one-job function, which stays for callers that finish a single job and is now the
-- batch of one (one definition of what completing means).
--
-- p_results maps job id → result ({"<uuid>": {...}, …}): an object, so both the direct-SQL
-- adapter and supabase-js send it as plain JSON.
--
-- The rows are locked in id order first, so two callers whose id sets overlap (a drain whose
-- lease was taken over, and the drain that took it) cannot deadlock; the owner is then checked on
-- the locked rows. The rows are found by primary key (`id = any (array(…))`, an index scan
-- whatever the statistics say; a join against the input would seq-scan the whole table for a
-- round of 50); a status condition in the lookup would let the planner walk the partial lease
-- index instead (see complete_webhook_job). PL/pgSQL rather than a SQL function: it keeps the
-- statement's plan between calls, which measured 7–16 % faster with 4 drains (BENCHMARKS.md).
create or replace function public.complete_webhook_jobs(
  p_worker text,
  p_results jsonb
)
returns table (id uuid)
language plpgsql
set search_path = public
as $$
begin
  return query
  with input as (
    -- A JSON null result is stored as SQL NULL, as complete_webhook_job always did.
    select r.key::uuid as id, nullif(r.value, 'null'::jsonb) as result
    from jsonb_each(coalesce(p_results, '{}'::jsonb)) r
  ),
  locked as (
    select j.id, j.status, j.locked_by
    from public.background_jobs j
    where j.id = any (array(select i.id from input i))
    order by j.id
    for update
  )
  update public.background_jobs j
     set status = 'completed',
         result = i.result,
         error = null,
         completed_at = clock_timestamp(),
         duration_ms = greatest(0, (extract(epoch from clock_timestamp() - j.started_at) * 1000)::integer),
         locked_by = null,
         locked_until = null,
         updated_at = now()
    from locked l
    join input i on i.id = l.id
   where j.id = l.id
     and l.status = 'processing'
     and l.locked_by = p_worker
  returning j.id;
end;
$$;

revoke execute on function public.complete_webhook_jobs(text, jsonb) from public, anon, authenticated;
grant execute on function public.complete_webhook_jobs(text, jsonb) to service_role;

create or replace function public.complete_webhook_job(
  p_job_id uuid,
  p_worker text,
  p_result jsonb default null
)
returns boolean
language sql
set search_path = public
as $$
  -- A null id completes nothing (jsonb_build_object refuses a null key).
  select case when p_job_id is null then false else exists (
    select 1 from public.complete_webhook_jobs(p_worker, jsonb_build_object(p_job_id::text, p_result))
  ) end;
$$;
