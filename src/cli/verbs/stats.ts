import type { OutgoingEvent } from '../../shared/inngest/events.ts';
import { parseDuration, parseVerbArgs } from '../args.ts';
import type { Verb } from '../context.ts';
import { formatTable } from '../table.ts';

/** Count and measurement columns, whatever the driver made of them. */
const NUMERIC = new Set([
  'total', 'queued', 'processing', 'completed', 'failed', 'cancelled', 'success_rate', 'avg_duration_ms', 'p95_duration_ms',
  'deliveries', 'avg_response_ms', 'p95_response_ms', 'inline', 'unique_actions', 'max_workspaces', 'retry_count',
]);

/**
 * postgres.js returns bigint and numeric as strings, PGlite bigint as a number: --json gives
 * numbers (or null) either way, so scripts read the same output from both databases.
 */
function numeric(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([key, value]) => [key, NUMERIC.has(key) && value !== null && value !== undefined ? Number(value) : value]),
    ),
  );
}

/** Per event name, and the latest few: what a developer checks after sending a delivery. */
function summarizeEvents(events: OutgoingEvent[]) {
  const byName: Record<string, number> = {};
  for (const event of events) byName[event.name] = (byName[event.name] ?? 0) + 1;
  const latest = events.slice(-5).reverse().map((e) => ({ name: e.name, id: e.id, workspaceId: e.data.workspaceId ?? null }));
  return { total: events.length, byName, latest };
}

export const stats: Verb = {
  usage: `webhook-router stats [--since 24h] [--json]

Job counts per type and status with average and p95 duration, inline vs queued deliveries, the
most active repositories and recent failures, over the window given by --since (default 24h).
While a local stack without INNGEST_EVENT_KEY runs, also the Inngest events it recorded (since it
started): their count per name and the latest ones ("events" in --json; null otherwise).`,
  async run(argv, ctx) {
    const { values } = parseVerbArgs(argv, { since: { type: 'string' }, json: { type: 'boolean' } });
    const since = new Date(Date.now() - parseDuration(values.since ?? '24h', '--since')).toISOString();
    const { db } = await ctx.database();
    const [jobs, routes, repositories, failures, recorded] = await Promise.all([
      db.call('get_job_statistics_summary', { p_since: since }),
      db.call('webhook_stats_routes', { p_since: since }),
      db.call('webhook_stats_repositories', { p_since: since, p_limit: 10 }),
      db.call('webhook_stats_recent_failures', { p_since: since, p_limit: 20 }),
      ctx.recordedEvents(),
    ]);
    const events = recorded ? summarizeEvents(recorded) : null;
    if (values.json) {
      const json = { since, jobs: numeric(jobs), routes: numeric(routes), repositories: numeric(repositories), failures: numeric(failures), events };
      ctx.out(JSON.stringify(json, null, 2));
      return 0;
    }
    ctx.out(`since ${since}\n`);
    ctx.out(`Jobs by type\n${formatTable(jobs)}\n`);
    ctx.out(`Deliveries by route (inline vs queued)\n${formatTable(routes)}\n`);
    ctx.out(`Most active repositories\n${formatTable(repositories)}\n`);
    ctx.out(`Recent failures\n${formatTable(failures)}`);
    if (events) {
      const names = Object.entries(events.byName).map(([name, count]) => ({ name, events: count }));
      ctx.out(`\nInngest events recorded by the local stack (no INNGEST_EVENT_KEY): ${events.total}\n${formatTable(names)}`);
      ctx.out(`\nLatest events\n${formatTable(events.latest)}`);
    }
    return 0;
  },
};
