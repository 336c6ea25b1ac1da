// A status-page dataset on a test database, and the page's numbers recomputed from the raw rows
// in TypeScript, independently of the SQL that the page runs.
import type { QueryFn } from '../../src/shared/db/sql.ts';

export const ROUTES = ['inline', 'queued', 'coalesced', 'duplicate', 'no_workspace', 'ignored'] as const;
const ORIGIN = Date.UTC(2000, 0, 1);

/** Text that must never reach the page: a payload field, an Inngest key, a bearer token, a password. */
export const SECRETS = ['PAYLOAD-MARKER-7f3a', 'SECRETKEY123', 'tok.en-1', 'hunter2'];

export async function seedStatusData(query: QueryFn): Promise<void> {
  // Spread over the last 8 days (some older than every window); g ≤ 20 lands in the last
  // two minutes, which the rollup leaves to the raw tail.
  await query(`
    insert into public.webhook_deliveries
      (delivery_id, event, action, repository, repository_github_id, route, status_code, response_ms, workspace_count, received_at)
    select 'd' || g, 'push', null,
           case when g % 101 = 0 then null else 'org/r' || (g * 13 % 23) end, null,
           (array['inline', 'queued', 'coalesced', 'no_workspace', 'ignored'])[1 + g % 5],
           case when g % 5 in (0, 3) then 200 else 202 end,
           case when g % 97 = 0 then null else (g * 37 % 400) + 1 end,
           g % 50,
           case when g <= 20 then now() - make_interval(secs => g * 5)
                else now() - make_interval(secs => 130 + (g * 7919) % 691200) end
    from generate_series(1, 3000) g`, []);
  await query(`
    insert into public.webhook_delivery_duplicates (delivery_id, duplicate_of, reason, event, status_code, response_ms, received_at)
    select 'dup' || g, 'd' || g, 'delivery_id', 'push', 200, (g % 9) + 1,
           case when g <= 3 then now() - make_interval(secs => g * 7)
                else now() - make_interval(secs => 130 + (g * 4243) % 691200) end
    from generate_series(1, 200) g`, []);
  await query(`
    insert into public.background_jobs
      (type, payload, status, error, retry_count, max_retries, run_at, locked_by, locked_until, repository,
       created_at, started_at, completed_at, failed_at, duration_ms)
    select (array['webhook/push', 'webhook/pull_request', 'webhook/issues'])[1 + g % 3],
           jsonb_build_object('event', 'push', 'data', jsonb_build_object('note', 'PAYLOAD-MARKER-7f3a')),
           s.status,
           case when s.status = 'failed' then
             case when g % 3 = 0 then 'POST https://inn.gs/e/SECRETKEY123 answered 400'
                  when g % 3 = 1 then 'upstream said: Authorization: Bearer tok.en-1 rejected'
                  else 'connect postgres://app:hunter2@db.example/app refused' end end,
           case when s.status = 'failed' then 5 else 0 end, 5,
           case when s.status = 'queued' and g % 2 = 0 then now() + interval '1 hour' else now() - interval '1 hour' end,
           case when s.status = 'processing' then 'drain-test' end,
           case when s.status = 'processing' then now() + case when g % 3 = 0 then interval '-10 minutes' else interval '10 minutes' end end,
           'org/r' || (g % 7),
           s.at - interval '5 seconds', s.at - interval '4 seconds',
           case when s.status = 'completed' then s.at end,
           case when s.status = 'failed' then s.at end,
           case when s.status in ('completed', 'failed') and g % 41 <> 0 then (g * 53) % 5000 end
    from generate_series(1, 600) g,
         lateral (select case when g % 10 < 7 then 'completed' when g % 10 = 7 then 'failed'
                              when g % 10 = 8 then 'queued' else 'processing' end as status,
                         case when g <= 30 then now() - make_interval(secs => g * 3)
                              else now() - make_interval(secs => 130 + (g * 6151) % 691200) end as at) s`, []);
  await query(`
    insert into public.webhook_circuit_breakers (name, state, consecutive_failures, opened_at, retry_at, last_error)
    values ('inngest', 'open', 7, now() - interval '1 minute', now() + interval '30 seconds',
            'POST https://inn.gs/e/SECRETKEY123 failed: 500 (Authorization: Bearer tok.en-1)')`, []);
}

function bucketOf(at: Date, stepSeconds: number): number {
  const step = stepSeconds * 1000;
  return ORIGIN + Math.floor((at.getTime() - ORIGIN) / step) * step;
}

/** Nearest rank: the smallest value with at least `fraction` of the values at or below it. */
export function nearestRank(values: number[], fraction: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(fraction * sorted.length) - 1] as number;
}

interface Delivery { route: string; status_code: number; response_ms: number | null; received_at: Date; repository: string | null; workspace_count: number | null }

export interface Expected {
  total: number;
  byRoute: Record<string, number[]>;
  byStatus: Record<string, number[]>;
  routes: Record<string, { deliveries: number; timed: number[] }>;
  repositories: { repository: string; deliveries: number; queued: number; inline: number; max_workspaces: number | null }[];
}

/** The deliveries part of the page, from the raw rows, for a window that starts at `from`. */
export async function expectedDeliveries(query: QueryFn, from: Date, bucketSeconds: number, buckets: Date[]): Promise<Expected> {
  const rows = (await query(`
    select route, status_code, response_ms, received_at, repository, workspace_count
    from public.webhook_deliveries where received_at >= $1
    union all
    select 'duplicate', status_code, response_ms, received_at, null, null
    from public.webhook_delivery_duplicates where received_at >= $1`, [from])) as unknown as Delivery[];
  const index = new Map(buckets.map((b, i) => [b.getTime(), i]));
  const zeros = () => buckets.map(() => 0);
  const expected: Expected = { total: rows.length, byRoute: {}, byStatus: {}, routes: {}, repositories: [] };
  for (const route of ROUTES) {
    expected.byRoute[route] = zeros();
    expected.routes[route] = { deliveries: 0, timed: [] };
  }
  const repos = new Map<string, Expected['repositories'][number]>();
  for (const row of rows) {
    const at = new Date(row.received_at);
    const i = index.get(bucketOf(at, bucketSeconds));
    if (i === undefined) throw new Error(`no bucket for ${at.toISOString()}`);
    const byRoute = expected.byRoute[row.route] as number[];
    byRoute[i] = (byRoute[i] ?? 0) + 1;
    const byStatus = (expected.byStatus[String(row.status_code)] ??= zeros());
    byStatus[i] = (byStatus[i] ?? 0) + 1;
    const route = expected.routes[row.route] as Expected['routes'][string];
    route.deliveries += 1;
    if (row.response_ms !== null) route.timed.push(Number(row.response_ms));
    if (row.repository !== null) {
      const repo = repos.get(row.repository) ?? { repository: row.repository, deliveries: 0, queued: 0, inline: 0, max_workspaces: null };
      repo.deliveries += 1;
      if (row.route === 'queued' || row.route === 'coalesced') repo.queued += 1;
      if (row.route === 'inline') repo.inline += 1;
      if (row.workspace_count !== null) repo.max_workspaces = Math.max(repo.max_workspaces ?? 0, Number(row.workspace_count));
      repos.set(row.repository, repo);
    }
  }
  expected.repositories = [...repos.values()]
    .sort((a, b) => b.deliveries - a.deliveries || (a.repository < b.repository ? -1 : 1))
    .slice(0, 10);
  return expected;
}

/** Each bucket start of a window, as the page lists them. */
export function windowBuckets(from: Date, to: Date, bucketSeconds: number): Date[] {
  const out: Date[] = [];
  for (let t = from.getTime(); t <= bucketOf(to, bucketSeconds); t += bucketSeconds * 1000) out.push(new Date(t));
  return out;
}
