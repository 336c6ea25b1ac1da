-- webhook-router: operator queries (run in the Supabase SQL editor or psql as service_role).
-- Each query starts with a `-- name: <kebab-name>` line followed by a one-line comment saying
-- what it answers; tests/queries/monitoring.test.ts splits the file on those lines and runs
-- every query. Time windows on background_jobs read webhook_jobs_since(t), the jobs created since t
-- found through the time-ordered primary key; `FROM background_jobs WHERE created_at > t` gives
-- the same rows but reads the whole table.

-- name: job-status-24h
-- How many webhook jobs of each type are in each status, and how long they took, over the last 24 hours?
SELECT
  type,
  status,
  COUNT(*) as count,
  AVG(duration_ms) as avg_duration
FROM webhook_jobs_since(NOW() - INTERVAL '24 hours')
WHERE type LIKE 'webhook/%'
GROUP BY type, status
ORDER BY type, status;

-- name: job-performance-by-type
-- Per webhook job type: totals by status, success rate, average and p95 duration (all time).
SELECT * FROM get_job_statistics_summary()
WHERE type LIKE 'webhook/%';

-- name: high-volume-repositories
-- Which 10 repositories queued the most webhook jobs in the last 24 hours, and with how many distinct actions?
SELECT
  payload #>> '{data,repository,full_name}' as repository,
  COUNT(*) as webhook_count,
  COUNT(DISTINCT payload #>> '{data,action}') as unique_actions
FROM webhook_jobs_since(NOW() - INTERVAL '24 hours')
WHERE type LIKE 'webhook/%'
GROUP BY 1
ORDER BY webhook_count DESC
LIMIT 10;

-- name: failed-jobs-last-hour
-- Which webhook jobs reached the dead letter (status failed) in the last hour, and why?
SELECT
  id,
  type,
  payload->>'event' as github_event,
  payload->>'action' as action,
  error,
  retry_count,
  failed_at
FROM background_jobs
WHERE type LIKE 'webhook/%'
  AND status = 'failed'
  AND failed_at > NOW() - INTERVAL '1 hour'
ORDER BY failed_at DESC;

-- name: inline-vs-queued-24h
-- How were deliveries of the last 24 hours answered (inline, queued, coalesced, …), and how fast (avg, p95 ms)?
SELECT
  route,
  COUNT(*) as deliveries,
  ROUND(AVG(response_ms), 1) as avg_response_ms,
  ROUND((percentile_cont(0.95) WITHIN GROUP (ORDER BY response_ms))::numeric, 1) as p95_response_ms
FROM webhook_deliveries
WHERE received_at > NOW() - INTERVAL '24 hours'
GROUP BY route
ORDER BY deliveries DESC, route;

-- name: stuck-jobs
-- Which jobs are stuck: processing with an expired lease (a drain died), or queued and due for over 5 minutes (no drain is running)?
SELECT
  id,
  type,
  status,
  CASE WHEN status = 'processing' THEN 'lease expired' ELSE 'due but not claimed' END as reason,
  locked_by,
  locked_until,
  run_at,
  retry_count,
  NOW() - CASE WHEN status = 'processing' THEN locked_until ELSE run_at END as overdue_by
FROM background_jobs
WHERE (status = 'processing' AND locked_until < NOW())
   OR (status = 'queued' AND run_at < NOW() - INTERVAL '5 minutes')
ORDER BY overdue_by DESC;

-- name: circuit-breakers
-- What state is each circuit breaker in (closed, open until retry_at, half_open probing), and why?
SELECT
  name,
  state,
  consecutive_failures,
  opened_at,
  retry_at,
  probe_owner,
  last_error,
  updated_at
FROM webhook_circuit_breakers
ORDER BY name;

-- name: deliveries-by-event-24h
-- Which events arrived in the last 24 hours, how were they routed, and with what HTTP status?
SELECT
  event,
  route,
  status_code,
  COUNT(*) as deliveries
FROM webhook_deliveries
WHERE received_at > NOW() - INTERVAL '24 hours'
GROUP BY event, route, status_code
ORDER BY event, route, status_code;

-- name: duplicates-24h
-- Which deliveries arrived again in the last 24 hours: GitHub's redeliveries (same GUID) and copies of a body under another GUID (a replayed or relabelled capture, or two hooks)?
SELECT
  reason,
  event,
  COUNT(*) as copies,
  COUNT(DISTINCT duplicate_of) as originals,
  MAX(received_at) as last_seen
FROM webhook_delivery_duplicates
WHERE received_at > NOW() - INTERVAL '24 hours'
GROUP BY reason, event
ORDER BY copies DESC, reason, event;

-- name: poison-events
-- Which jobs reached the dead letter because Inngest refused their events (a 4xx for their content), and not because of an outage?
SELECT
  id,
  type,
  payload #>> '{data,repository,full_name}' as repository,
  retry_count,
  failed_at,
  error
FROM background_jobs
WHERE status = 'failed'
  AND error ~ 'Inngest did not accept .*(HTTP |API Error: )4[0-9][0-9]'
ORDER BY failed_at DESC
LIMIT 50;
