-- webhook-router: the status page's data, one JSON document per window (1h, 24h, 7d).
--
-- Aggregating the raw tables for a window does not stay fast: at 1M deliveries over 7 days the
-- deliveries panel alone took about 1 s for the 7-day window on the benchmark machine
-- (BENCHMARKS.md). So the page reads rollups, kept at the chart's bucket size for each window
-- (1 min for 1h, 15 min for 24h, 2 h for 7d):
--   * per bucket (webhook_status_bucket_*): what the charts draw, and what a window loses when
--     it slides;
--   * per window (webhook_status_window_*): running totals over the buckets still in the window
--     (ack-time histograms, repositories, finished jobs), so the page never sums a week of
--     buckets: each pass adds what arrived and subtracts the buckets that slid out.
-- plus the raw rows newer than the rollups.
--
-- Nothing is added to the receive path: no trigger, no write in the receiver's transaction.
-- webhook_status_rollup() folds in rows received more than two minutes ago (a row becomes visible
-- at its commit, a little after its received_at, so the newest minutes are read raw); the status
-- function runs it on every read (one pass at a time, at most a day of history per read), and
-- pg_cron every minute where it exists. A row committed more than two minutes after its
-- received_at (a transaction held open that long) would be missed by the rollups; the receiver's
-- record is one short statement.
-- Percentiles come from log-scale histograms (buckets 10 % wide, each with the sum of its values):
-- within 10 % of the exact value.
--
-- The drain pays for one thing: background_jobs_completed_idx, a partial index on completed_at,
-- so a pass finds the jobs finished since the last one (measured in BENCHMARKS.md).

-- ---------------------------------------------------------------------------------------------
-- The windows the page offers. window_start is where each window's running totals begin; the
-- rollup moves it forward.
-- ---------------------------------------------------------------------------------------------
create table if not exists public.webhook_status_windows (
  bucket_seconds integer primary key,
  window_name text not null unique,
  window_seconds integer not null,
  -- Per-bucket rows are kept this long: the window, its first bucket, and a margin.
  keep_seconds integer not null,
  window_start timestamptz
);
insert into public.webhook_status_windows (bucket_seconds, window_name, window_seconds, keep_seconds)
values (60, '1h', 3600, 7200), (900, '24h', 86400, 93600), (7200, '7d', 604800, 619200)
on conflict (bucket_seconds) do nothing;

-- Everything received (or finished) before rolled_up_to is in the rollups.
create table if not exists public.webhook_status_rollup_state (
  id boolean primary key default true constraint webhook_status_rollup_state_one_row check (id),
  rolled_up_to timestamptz not null,
  updated_at timestamptz not null default now()
);

-- Per bucket. route is webhook_deliveries.route, or 'duplicate' (webhook_delivery_duplicates).
create table if not exists public.webhook_status_bucket_deliveries (
  bucket_seconds integer not null,
  bucket_start timestamptz not null,
  route text not null,
  status_code integer not null,
  deliveries integer not null,
  primary key (bucket_seconds, bucket_start, route, status_code)
);
create table if not exists public.webhook_status_bucket_latency (
  bucket_seconds integer not null,
  bucket_start timestamptz not null,
  route text not null,
  -- webhook_status_histogram_bucket(response_ms); -1 when no response time was recorded.
  latency_bucket smallint not null,
  deliveries integer not null,
  response_ms_sum bigint not null,
  primary key (bucket_seconds, bucket_start, route, latency_bucket)
);
create table if not exists public.webhook_status_bucket_repositories (
  bucket_seconds integer not null,
  bucket_start timestamptz not null,
  repository text not null,
  deliveries integer not null,
  queued integer not null,
  inline integer not null,
  max_workspaces integer,
  primary key (bucket_seconds, bucket_start, repository)
);
-- The page looks up the busiest repositories' workspace counts by name.
create index if not exists webhook_status_bucket_repositories_name_idx
  on public.webhook_status_bucket_repositories (bucket_seconds, repository, bucket_start);
-- Jobs by the time they finished: completed, or failed into the dead letter.
create table if not exists public.webhook_status_bucket_jobs (
  bucket_seconds integer not null,
  bucket_start timestamptz not null,
  type text not null,
  status text not null,
  duration_bucket smallint not null,
  jobs integer not null,
  duration_ms_sum bigint not null,
  primary key (bucket_seconds, bucket_start, type, status, duration_bucket)
);

-- Per window: the sums of the bucket rows from window_start on.
create table if not exists public.webhook_status_window_latency (
  bucket_seconds integer not null,
  route text not null,
  latency_bucket smallint not null,
  deliveries integer not null,
  response_ms_sum bigint not null,
  primary key (bucket_seconds, route, latency_bucket)
);
create table if not exists public.webhook_status_window_repositories (
  bucket_seconds integer not null,
  repository text not null,
  deliveries integer not null,
  queued integer not null,
  inline integer not null,
  primary key (bucket_seconds, repository)
);
create table if not exists public.webhook_status_window_jobs (
  bucket_seconds integer not null,
  type text not null,
  status text not null,
  duration_bucket smallint not null,
  jobs integer not null,
  duration_ms_sum bigint not null,
  primary key (bucket_seconds, type, status, duration_bucket)
);

create index if not exists background_jobs_completed_idx
  on public.background_jobs (completed_at)
  where status = 'completed';

do $$
declare
  t text;
begin
  foreach t in array array[
    'webhook_status_windows', 'webhook_status_rollup_state',
    'webhook_status_bucket_deliveries', 'webhook_status_bucket_latency', 'webhook_status_bucket_repositories',
    'webhook_status_bucket_jobs', 'webhook_status_window_latency', 'webhook_status_window_repositories',
    'webhook_status_window_jobs'
  ] loop
    execute format('alter table public.%I enable row level security', t);
    execute format('revoke all on public.%I from public, anon, authenticated', t);
    execute format('grant all on public.%I to service_role', t);
    execute format('drop policy if exists %I on public.%I', t || '_service_role', t);
    execute format('create policy %I on public.%I for all to service_role using (true) with check (true)',
                   t || '_service_role', t);
  end loop;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Helpers.
-- ---------------------------------------------------------------------------------------------

-- The bucket (of bucket_seconds, aligned to UTC) holding a moment.
create or replace function public.webhook_status_bucket(p_bucket_seconds integer, p_at timestamptz)
returns timestamptz
language sql
immutable
as $$
  select date_bin(make_interval(secs => p_bucket_seconds), p_at, '2000-01-01 00:00:00+00'::timestamptz);
$$;

-- Log-scale histogram bucket of a duration in ms: bucket k holds [1.1^k − 1, 1.1^(k+1) − 1),
-- so every whole millisecond up to 10 ms has its own bucket and larger ones are 10 % wide.
create or replace function public.webhook_status_histogram_bucket(p_ms integer)
returns smallint
language sql
immutable
as $$
  select case when p_ms is null then -1
              else floor(ln(greatest(p_ms, 0) + 1) / ln(1.1))::smallint end;
$$;

-- The p-th percentile (nearest rank) of a histogram given as parallel arrays in bucket order:
-- the count and the sum of the values in each bucket. It answers the mean of the bucket the rank
-- falls in, so it is exact when that bucket holds one value and otherwise within the bucket's
-- 10 % width.
create or replace function public.webhook_status_histogram_percentile(
  p_counts bigint[],
  p_sums numeric[],
  p_fraction double precision
)
returns numeric
language sql
immutable
as $$
  with h as (
    select b.i, b.n, b.total_ms, sum(b.n) over (order by b.i) - b.n as before, sum(b.n) over () as total
    from unnest(p_counts, p_sums) with ordinality as b(n, total_ms, i)
    where b.n > 0
  )
  select round(h.total_ms / h.n, 1)
  from h
  where h.before < p_fraction * h.total
  order by h.i desc
  limit 1;
$$;

-- Job errors and circuit errors are free text written by the drain: keep them short and strip
-- anything shaped like a credential (an Inngest event key in /e/<key>, a bearer token, a password
-- in a URL), so the page never shows one.
create or replace function public.webhook_status_redact(p_text text)
returns text
language sql
immutable
as $$
  select left(
    regexp_replace(
      regexp_replace(
        regexp_replace(p_text, '(/e/)[^/\s?#"'']+', '\1[redacted]', 'g'),
        '(bearer\s+)[^\s"'']+', '\1[redacted]', 'gi'),
      '(://[^/\s:@]+:)[^@\s/]+@', '\1[redacted]@', 'g'),
    500);
$$;

-- ---------------------------------------------------------------------------------------------
-- One rollup pass: slide each window to now and drop bucket rows no window shows any more, then
-- fold in the rows received (and the jobs finished) since the last pass, up to two minutes ago
-- (or p_until), at most p_max_span of it. One pass at a time: other callers wait (p_wait) or
-- return null at once. Returns the new rolled_up_to.
-- ---------------------------------------------------------------------------------------------
create or replace function public.webhook_status_rollup(
  p_wait boolean default false,
  p_until timestamptz default null,
  p_max_span interval default null
)
returns timestamptz
language plpgsql
set search_path = public
set plan_cache_mode = force_custom_plan
set jit = off
as $$
declare
  v_window public.webhook_status_windows;
  v_start timestamptz;
  v_keep timestamptz;
  v_from timestamptz;
  -- p_until stops a pass earlier (tests and the benchmark fold history in several passes).
  v_to timestamptz := least(date_trunc('minute', now()) - interval '2 minutes', date_trunc('minute', p_until));
begin
  -- Held to the end of the caller's transaction: the status page reads the watermark, the window
  -- starts and the rollups in separate statements, and no other pass may commit in between.
  if p_wait then
    perform pg_advisory_xact_lock(hashtext('webhook-router status rollup'));
  elsif not pg_try_advisory_xact_lock(hashtext('webhook-router status rollup')) then
    return null;
  end if;

  -- Slide each window to the bucket holding now() − window: the buckets that left it are
  -- subtracted from its running totals. Then drop bucket rows no window shows any more.
  for v_window in select * from public.webhook_status_windows loop
    v_start := public.webhook_status_bucket(v_window.bucket_seconds, now() - make_interval(secs => v_window.window_seconds));
    if v_start > v_window.window_start then
      update public.webhook_status_window_latency t
         set deliveries = t.deliveries - g.n, response_ms_sum = t.response_ms_sum - g.ms
        from (select b.route, b.latency_bucket, sum(b.deliveries) as n, sum(b.response_ms_sum) as ms
              from public.webhook_status_bucket_latency b
              where b.bucket_seconds = v_window.bucket_seconds and b.bucket_start >= v_window.window_start and b.bucket_start < v_start
              group by 1, 2) g
       where t.bucket_seconds = v_window.bucket_seconds and t.route = g.route and t.latency_bucket = g.latency_bucket;
      update public.webhook_status_window_repositories t
         set deliveries = t.deliveries - g.n, queued = t.queued - g.queued, inline = t.inline - g.inline
        from (select b.repository, sum(b.deliveries) as n, sum(b.queued) as queued, sum(b.inline) as inline
              from public.webhook_status_bucket_repositories b
              where b.bucket_seconds = v_window.bucket_seconds and b.bucket_start >= v_window.window_start and b.bucket_start < v_start
              group by 1) g
       where t.bucket_seconds = v_window.bucket_seconds and t.repository = g.repository;
      update public.webhook_status_window_jobs t
         set jobs = t.jobs - g.n, duration_ms_sum = t.duration_ms_sum - g.ms
        from (select b.type, b.status, b.duration_bucket, sum(b.jobs) as n, sum(b.duration_ms_sum) as ms
              from public.webhook_status_bucket_jobs b
              where b.bucket_seconds = v_window.bucket_seconds and b.bucket_start >= v_window.window_start and b.bucket_start < v_start
              group by 1, 2, 3) g
       where t.bucket_seconds = v_window.bucket_seconds and t.type = g.type and t.status = g.status
         and t.duration_bucket = g.duration_bucket;
      delete from public.webhook_status_window_latency t where t.bucket_seconds = v_window.bucket_seconds and t.deliveries <= 0;
      delete from public.webhook_status_window_repositories t where t.bucket_seconds = v_window.bucket_seconds and t.deliveries <= 0;
      delete from public.webhook_status_window_jobs t where t.bucket_seconds = v_window.bucket_seconds and t.jobs <= 0;
    end if;
    update public.webhook_status_windows set window_start = v_start where bucket_seconds = v_window.bucket_seconds;

    v_keep := now() - make_interval(secs => v_window.keep_seconds);
    delete from public.webhook_status_bucket_deliveries r where r.bucket_seconds = v_window.bucket_seconds and r.bucket_start < v_keep;
    delete from public.webhook_status_bucket_latency r where r.bucket_seconds = v_window.bucket_seconds and r.bucket_start < v_keep;
    delete from public.webhook_status_bucket_repositories r where r.bucket_seconds = v_window.bucket_seconds and r.bucket_start < v_keep;
    delete from public.webhook_status_bucket_jobs r where r.bucket_seconds = v_window.bucket_seconds and r.bucket_start < v_keep;
  end loop;

  select s.rolled_up_to into v_from from public.webhook_status_rollup_state s;
  if v_from is null then
    -- First pass: nothing older than the longest window's first bucket is ever shown.
    v_from := public.webhook_status_bucket(7200, now() - interval '7 days');
    insert into public.webhook_status_rollup_state (rolled_up_to) values (v_from);
  end if;

  -- A bounded pass leaves the rest to the next one (the page reads it raw meanwhile).
  v_to := least(v_to, date_trunc('minute', v_from + p_max_span));
  if v_to > v_from then
    -- Each source is read once; its rows go to every level's bucket rows (while that level keeps
    -- them) and to every window whose start they are at or after.
    with d as (
      select x.received_at, x.route, x.status_code, public.webhook_status_histogram_bucket(x.response_ms) as latency_bucket,
             coalesce(x.response_ms, 0) as ms
      from public.webhook_deliveries x
      where x.received_at >= v_from and x.received_at < v_to
      union all
      select y.received_at, 'duplicate', y.status_code, public.webhook_status_histogram_bucket(y.response_ms),
             coalesce(y.response_ms, 0)
      from public.webhook_delivery_duplicates y
      where y.received_at >= v_from and y.received_at < v_to
    ), leveled as (
      select w.bucket_seconds, w.window_start, public.webhook_status_bucket(w.bucket_seconds, d.received_at) as bucket_start, d.*
      from d join public.webhook_status_windows w on d.received_at >= now() - make_interval(secs => w.keep_seconds)
    ), series as (
      insert into public.webhook_status_bucket_deliveries as r (bucket_seconds, bucket_start, route, status_code, deliveries)
      select l.bucket_seconds, l.bucket_start, l.route, l.status_code, count(*) from leveled l group by 1, 2, 3, 4
      on conflict (bucket_seconds, bucket_start, route, status_code) do update
        set deliveries = r.deliveries + excluded.deliveries
    ), latency as (
      insert into public.webhook_status_bucket_latency as r (bucket_seconds, bucket_start, route, latency_bucket, deliveries, response_ms_sum)
      select l.bucket_seconds, l.bucket_start, l.route, l.latency_bucket, count(*), sum(l.ms) from leveled l group by 1, 2, 3, 4
      on conflict (bucket_seconds, bucket_start, route, latency_bucket) do update
        set deliveries = r.deliveries + excluded.deliveries, response_ms_sum = r.response_ms_sum + excluded.response_ms_sum
    )
    insert into public.webhook_status_window_latency as r (bucket_seconds, route, latency_bucket, deliveries, response_ms_sum)
    select l.bucket_seconds, l.route, l.latency_bucket, count(*), sum(l.ms)
    from leveled l where l.bucket_start >= l.window_start group by 1, 2, 3
    on conflict (bucket_seconds, route, latency_bucket) do update
      set deliveries = r.deliveries + excluded.deliveries, response_ms_sum = r.response_ms_sum + excluded.response_ms_sum;

    with leveled as (
      select w.bucket_seconds, w.window_start, public.webhook_status_bucket(w.bucket_seconds, d.received_at) as bucket_start,
             d.repository, d.route, d.workspace_count
      from public.webhook_deliveries d
      join public.webhook_status_windows w on d.received_at >= now() - make_interval(secs => w.keep_seconds)
      where d.received_at >= v_from and d.received_at < v_to and d.repository is not null
    ), buckets as (
      insert into public.webhook_status_bucket_repositories as r
        (bucket_seconds, bucket_start, repository, deliveries, queued, inline, max_workspaces)
      select l.bucket_seconds, l.bucket_start, l.repository, count(*),
             count(*) filter (where l.route in ('queued', 'coalesced')), count(*) filter (where l.route = 'inline'),
             max(l.workspace_count)
      from leveled l group by 1, 2, 3
      on conflict (bucket_seconds, bucket_start, repository) do update
        set deliveries = r.deliveries + excluded.deliveries, queued = r.queued + excluded.queued,
            inline = r.inline + excluded.inline, max_workspaces = greatest(r.max_workspaces, excluded.max_workspaces)
    )
    insert into public.webhook_status_window_repositories as r (bucket_seconds, repository, deliveries, queued, inline)
    select l.bucket_seconds, l.repository, count(*),
           count(*) filter (where l.route in ('queued', 'coalesced')), count(*) filter (where l.route = 'inline')
    from leveled l where l.bucket_start >= l.window_start group by 1, 2
    on conflict (bucket_seconds, repository) do update
      set deliveries = r.deliveries + excluded.deliveries, queued = r.queued + excluded.queued, inline = r.inline + excluded.inline;

    with f as (
      select j.completed_at as finished_at, j.type, j.status, j.duration_ms
      from public.background_jobs j
      where j.status = 'completed' and j.completed_at >= v_from and j.completed_at < v_to
      union all
      select j.failed_at, j.type, j.status, j.duration_ms
      from public.background_jobs j
      where j.status = 'failed' and j.failed_at >= v_from and j.failed_at < v_to
    ), leveled as (
      select w.bucket_seconds, w.window_start, public.webhook_status_bucket(w.bucket_seconds, f.finished_at) as bucket_start,
             f.type, f.status, public.webhook_status_histogram_bucket(f.duration_ms) as duration_bucket,
             coalesce(f.duration_ms, 0) as ms
      from f join public.webhook_status_windows w on f.finished_at >= now() - make_interval(secs => w.keep_seconds)
    ), buckets as (
      insert into public.webhook_status_bucket_jobs as r (bucket_seconds, bucket_start, type, status, duration_bucket, jobs, duration_ms_sum)
      select l.bucket_seconds, l.bucket_start, l.type, l.status, l.duration_bucket, count(*), sum(l.ms) from leveled l group by 1, 2, 3, 4, 5
      on conflict (bucket_seconds, bucket_start, type, status, duration_bucket) do update
        set jobs = r.jobs + excluded.jobs, duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum
    )
    insert into public.webhook_status_window_jobs as r (bucket_seconds, type, status, duration_bucket, jobs, duration_ms_sum)
    select l.bucket_seconds, l.type, l.status, l.duration_bucket, count(*), sum(l.ms)
    from leveled l where l.bucket_start >= l.window_start group by 1, 2, 3, 4
    on conflict (bucket_seconds, type, status, duration_bucket) do update
      set jobs = r.jobs + excluded.jobs, duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum;

    update public.webhook_status_rollup_state set rolled_up_to = v_to, updated_at = now();
    v_from := v_to;
  end if;

  return v_from;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- The whole status page for a window ('1h', '24h' or '7d'): one JSON document, no payloads.
-- ---------------------------------------------------------------------------------------------
create or replace function public.webhook_status_page(p_window text default '24h')
returns jsonb
language plpgsql
set search_path = public
-- Plans with the real watermark and window (a generic plan guesses a third of each table for
-- "received after $1" and scans it), and no JIT: compiling costs more than this query runs.
set plan_cache_mode = force_custom_plan
set jit = off
as $$
declare
  v_window public.webhook_status_windows;
  v_step interval;
  v_rolled_up_to timestamptz;
  v_tail timestamptz;
  v_result jsonb;
begin
  if not exists (select 1 from public.webhook_status_windows w where w.window_name = coalesce(p_window, '24h')) then
    raise exception 'unknown window "%": choose 1h, 24h or 7d', p_window using errcode = '22023';
  end if;
  -- Waits for a pass under way and keeps the lock, so what is read below stays one state. A day
  -- at most per read: after a long quiet spell without pg_cron, catching up a week at once could
  -- outlast the API's statement timeout (8 s on Supabase), so reads catch up a day at a time.
  perform public.webhook_status_rollup(p_wait => true, p_max_span => interval '1 day');
  select * into v_window from public.webhook_status_windows w where w.window_name = coalesce(p_window, '24h');
  select s.rolled_up_to into v_rolled_up_to from public.webhook_status_rollup_state s;
  v_step := make_interval(secs => v_window.bucket_seconds);
  -- Rows from the watermark on are not rolled up yet: they are read raw.
  v_tail := greatest(v_window.window_start, v_rolled_up_to);

  with buckets as (
    select b as bucket_start, row_number() over (order by b) as i
    from generate_series(v_window.window_start, public.webhook_status_bucket(v_window.bucket_seconds, now()), v_step) b
  ), tail as (
    select d.received_at, d.route, d.status_code, d.response_ms, d.repository, d.workspace_count
    from public.webhook_deliveries d
    where d.received_at >= v_tail
    union all
    select d.received_at, 'duplicate', d.status_code, d.response_ms, null, null
    from public.webhook_delivery_duplicates d
    where d.received_at >= v_tail
  ), series as (
    select r.bucket_start, r.route, r.status_code, r.deliveries::bigint as n
    from public.webhook_status_bucket_deliveries r
    where r.bucket_seconds = v_window.bucket_seconds and r.bucket_start >= v_window.window_start
    union all
    select public.webhook_status_bucket(v_window.bucket_seconds, t.received_at), t.route, t.status_code, 1
    from tail t
  ), routes as (
    select * from unnest(array['inline', 'queued', 'coalesced', 'duplicate', 'no_workspace', 'ignored'])
      with ordinality as r(route, ord)
  ), by_bucket_route as (
    select s.bucket_start, s.route, sum(s.n) as n from series s group by 1, 2
  ), by_bucket_status as (
    select s.bucket_start, s.status_code, sum(s.n) as n from series s group by 1, 2
  ), latency as (
    select x.route, x.latency_bucket, sum(x.n) as n, sum(x.ms) as ms
    from (
      select r.route, r.latency_bucket, r.deliveries::bigint as n, r.response_ms_sum as ms
      from public.webhook_status_window_latency r
      where r.bucket_seconds = v_window.bucket_seconds
      union all
      select t.route, public.webhook_status_histogram_bucket(t.response_ms), 1, coalesce(t.response_ms, 0)
      from tail t
    ) x
    group by 1, 2
  ), route_summary as (
    select h.route, sum(h.n) as n,
           sum(h.ms) filter (where h.latency_bucket >= 0) as ms,
           sum(h.n) filter (where h.latency_bucket >= 0) as timed,
           array_agg(h.n order by h.latency_bucket) filter (where h.latency_bucket >= 0)::bigint[] as hn,
           array_agg(h.ms order by h.latency_bucket) filter (where h.latency_bucket >= 0)::numeric[] as hs
    from latency h group by 1
  ), repositories as (
    select x.repository, sum(x.deliveries) as deliveries, sum(x.queued) as queued, sum(x.inline) as inline
    from (
      select r.repository, r.deliveries, r.queued, r.inline
      from public.webhook_status_window_repositories r
      where r.bucket_seconds = v_window.bucket_seconds
      union all
      select t.repository, 1, (t.route in ('queued', 'coalesced'))::int, (t.route = 'inline')::int
      from tail t where t.repository is not null
    ) x
    group by 1
    order by 2 desc, 1
    limit 10
  ), repository_workspaces as (
    -- Only for the ten shown: the most workspaces a delivery of theirs reached in the window.
    select r.repository, greatest(
             (select max(b.max_workspaces) from public.webhook_status_bucket_repositories b
               where b.bucket_seconds = v_window.bucket_seconds and b.repository = r.repository
                 and b.bucket_start >= v_window.window_start),
             (select max(t.workspace_count) from tail t where t.repository = r.repository)) as max_workspaces
    from repositories r
  ), finished as (
    select x.type, x.status, x.duration_bucket, sum(x.n) as n, sum(x.ms) as ms
    from (
      select r.type, r.status, r.duration_bucket, r.jobs::bigint as n, r.duration_ms_sum as ms
      from public.webhook_status_window_jobs r
      where r.bucket_seconds = v_window.bucket_seconds
      union all
      select j.type, j.status, public.webhook_status_histogram_bucket(j.duration_ms), 1, coalesce(j.duration_ms, 0)
      from public.background_jobs j
      where j.status = 'completed' and j.completed_at >= v_tail
      union all
      select j.type, j.status, public.webhook_status_histogram_bucket(j.duration_ms), 1, coalesce(j.duration_ms, 0)
      from public.background_jobs j
      where j.status = 'failed' and j.failed_at >= v_tail
    ) x
    group by 1, 2, 3
  ), finished_summary as (
    select h.type, h.status, sum(h.n) as n,
           sum(h.ms) filter (where h.duration_bucket >= 0) as ms,
           sum(h.n) filter (where h.duration_bucket >= 0) as timed,
           array_agg(h.n order by h.duration_bucket) filter (where h.duration_bucket >= 0)::bigint[] as hn,
           array_agg(h.ms order by h.duration_bucket) filter (where h.duration_bucket >= 0)::numeric[] as hs
    from finished h group by 1, 2
  ), pending as (
    -- Now, whatever the window; each status through its partial index (claim, lease).
    select j.type, 'queued' as status, count(*) as n, min(j.created_at) as oldest,
           count(*) filter (where j.run_at <= now()) as ready, 0 as expired
    from public.background_jobs j
    where j.status = 'queued'
    group by 1
    union all
    select j.type, 'processing', count(*), min(j.created_at), 0,
           count(*) filter (where j.locked_until < now())
    from public.background_jobs j
    where j.status = 'processing'
    group by 1
  ), job_types as (
    select type from pending union select type from finished_summary
  ), dead as (
    -- Newest first, read backwards along the partial dead-letter index.
    select j.id, j.type, j.repository, j.error, j.retry_count, j.failed_at
    from public.background_jobs j
    where j.status = 'failed'
    order by j.failed_at desc
    limit 50
  )
  select jsonb_build_object(
    'generated_at', now(),
    'window', v_window.window_name,
    'window_seconds', v_window.window_seconds,
    'bucket_seconds', v_window.bucket_seconds,
    'from', v_window.window_start,
    'to', now(),
    'rolled_up_to', v_rolled_up_to,
    'deliveries', jsonb_build_object(
      'total', coalesce((select sum(n) from by_bucket_route), 0),
      'buckets', (select jsonb_agg(b.bucket_start order by b.i) from buckets b),
      'by_route', (
        select jsonb_object_agg(r.route, (
          select jsonb_agg(coalesce(x.n, 0) order by b.i)
          from buckets b left join by_bucket_route x on x.bucket_start = b.bucket_start and x.route = r.route))
        from routes r),
      'by_status', coalesce((
        select jsonb_object_agg(s.status_code::text, (
          select jsonb_agg(coalesce(x.n, 0) order by b.i)
          from buckets b left join by_bucket_status x on x.bucket_start = b.bucket_start and x.status_code = s.status_code))
        from (select distinct status_code from by_bucket_status) s), '{}'::jsonb),
      'routes', (
        select jsonb_agg(jsonb_build_object(
          'route', r.route,
          'deliveries', coalesce(s.n, 0),
          'avg_ms', round(s.ms::numeric / nullif(s.timed, 0), 1),
          'p50_ms', public.webhook_status_histogram_percentile(s.hn, s.hs, 0.5),
          'p95_ms', public.webhook_status_histogram_percentile(s.hn, s.hs, 0.95)) order by r.ord)
        from routes r left join route_summary s on s.route = r.route)
    ),
    'queue', jsonb_build_object(
      'queued', coalesce((select sum(n) from pending where status = 'queued'), 0),
      'ready', coalesce((select sum(ready) from pending), 0),
      'processing', coalesce((select sum(n) from pending where status = 'processing'), 0),
      'expired_leases', coalesce((select sum(expired) from pending), 0),
      'oldest_queued_at', (select min(oldest) from pending where status = 'queued'),
      'oldest_queued_age_seconds',
        (select round(extract(epoch from now() - min(oldest))::numeric, 0) from pending where status = 'queued')
    ),
    'jobs', coalesce((
      select jsonb_agg(jsonb_build_object(
        'type', t.type,
        'queued', coalesce((select n from pending x where x.type = t.type and x.status = 'queued'), 0),
        'processing', coalesce((select n from pending x where x.type = t.type and x.status = 'processing'), 0),
        'completed', coalesce(c.n, 0),
        'failed', coalesce(f.n, 0),
        'completed_avg_ms', round(c.ms::numeric / nullif(c.timed, 0), 1),
        'completed_p95_ms', public.webhook_status_histogram_percentile(c.hn, c.hs, 0.95),
        'failed_avg_ms', round(f.ms::numeric / nullif(f.timed, 0), 1),
        'failed_p95_ms', public.webhook_status_histogram_percentile(f.hn, f.hs, 0.95)) order by t.type)
      from job_types t
      left join finished_summary c on c.type = t.type and c.status = 'completed'
      left join finished_summary f on f.type = t.type and f.status = 'failed'), '[]'::jsonb),
    'dead_letters', jsonb_build_object(
      'total', (select count(*) from public.background_jobs j where j.status = 'failed'),
      'in_window', (select count(*) from public.background_jobs j
                     where j.status = 'failed' and j.failed_at >= v_window.window_start),
      'latest', coalesce((
        select jsonb_agg(jsonb_build_object(
          'id', d.id,
          'type', d.type,
          'repository', d.repository,
          'error', public.webhook_status_redact(d.error),
          'retry_count', d.retry_count,
          'failed_at', d.failed_at,
          'replay_command', 'npx webhook-router replay --job ' || d.id) order by d.failed_at desc, d.id)
        from dead d), '[]'::jsonb)
    ),
    'circuit', coalesce((
      select jsonb_build_object(
        'name', c.name,
        'state', c.state,
        'consecutive_failures', c.consecutive_failures,
        'last_error', public.webhook_status_redact(c.last_error),
        'opened_at', c.opened_at,
        -- Open: the first drain after retry_at sends one probe. Half open: that probe is under way.
        'probe_at', case when c.state = 'open' then c.retry_at end,
        'probing', c.state = 'half_open',
        'updated_at', c.updated_at)
      from public.webhook_circuit_breakers c where c.name = 'inngest'),
      jsonb_build_object('name', 'inngest', 'state', 'closed', 'consecutive_failures', 0, 'last_error', null,
                         'opened_at', null, 'probe_at', null, 'probing', false, 'updated_at', null)),
    'repositories', coalesce((
      select jsonb_agg(jsonb_build_object(
        'repository', r.repository, 'deliveries', r.deliveries, 'queued', r.queued, 'inline', r.inline,
        'max_workspaces', w.max_workspaces) order by r.deliveries desc, r.repository)
      from repositories r join repository_workspaces w on w.repository = r.repository), '[]'::jsonb)
  )
  into v_result;
  return v_result;
end;
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.webhook_status_bucket(integer, timestamptz)',
    'public.webhook_status_histogram_bucket(integer)',
    'public.webhook_status_histogram_percentile(bigint[], numeric[], double precision)',
    'public.webhook_status_redact(text)',
    'public.webhook_status_rollup(boolean, timestamptz, interval)',
    'public.webhook_status_page(text)'
  ] loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;

-- Keep the rollups current where pg_cron exists (Supabase), so opening the page after a quiet
-- week does not first fold a week of rows in. Elsewhere the status function rolls up as it reads.
do $$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'webhook-router: pg_cron not available; the status rollup runs when the page is read';
    return;
  end if;
  create extension if not exists pg_cron;
  execute $sql$
    select cron.schedule('webhook-router-status-rollup', '* * * * *', 'select public.webhook_status_rollup()')
  $sql$;
end
$$;
