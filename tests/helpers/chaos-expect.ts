// What Inngest must have received once everything is drained, derived from the database: the
// event ids the router's contract implies (README "The drain" table), computed with the router's
// own eventId().
import type { QueryFn } from '../../src/shared/db/sql.ts';
import { eventId, METRICS_AGGREGATE_EVENT, REPOSITORY_CHANGED_EVENT } from '../../src/shared/inngest/events.ts';
import type { ChaosRepo } from './chaos-deliveries.ts';
import type { InngestStandIn } from './inngest-standin.ts';

const METRIC_PR_ACTIONS = new Set(['opened', 'reopened', 'closed']);

export interface ExpectedEvent {
  id: string;
  name: string;
  workspaceId: string;
  deliveryIds: string[];
}

export async function expectedEvents(query: QueryFn, repos: readonly ChaosRepo[]): Promise<Map<string, ExpectedEvent>> {
  const workspacesOf = new Map(repos.map((r) => [r.githubId, r.workspaceIds]));
  const expected = new Map<string, ExpectedEvent>();
  const add = async (name: string, source: string, githubId: number, deliveryIds: string[]) => {
    for (const workspaceId of workspacesOf.get(githubId) ?? []) {
      const id = await eventId({ source, workspaceId, name });
      expected.set(id, { id, name, workspaceId, deliveryIds });
    }
  };
  const jobs = await query(
    `select id::text, type, payload ->> 'action' as action, payload ->> 'delivery_id' as delivery_id,
            coalesce((select array_agg(x) from jsonb_array_elements_text(payload -> 'delivery_ids') x), '{}') as delivery_ids,
            coalesce(repository_github_id, (payload #>> '{data,repository,id}')::bigint) as github_id
     from public.background_jobs`,
    [],
  );
  for (const job of jobs) {
    const deliveryIds = (job.delivery_ids as string[]).slice();
    const first = typeof job.delivery_id === 'string' ? job.delivery_id : null;
    if (first && !deliveryIds.includes(first)) deliveryIds.unshift(first);
    const githubId = Number(job.github_id);
    const source = deliveryIds[0] as string;
    switch (job.type) {
      case 'webhook/pull_request':
        if (METRIC_PR_ACTIONS.has(String(job.action))) await add(METRICS_AGGREGATE_EVENT, source, githubId, deliveryIds);
        break;
      case 'webhook/repository':
        await add(REPOSITORY_CHANGED_EVENT, source, githubId, deliveryIds);
        break;
      case 'webhook/push':
        await add(METRICS_AGGREGATE_EVENT, String(job.id), githubId, deliveryIds);
        break;
      default:
        break;
    }
  }
  const inline = await query(
    `select delivery_id, repository_github_id from public.webhook_deliveries where route = 'inline' and event = 'repository'`,
    [],
  );
  for (const row of inline) await add(REPOSITORY_CHANGED_EVENT, String(row.delivery_id), Number(row.repository_github_id), [String(row.delivery_id)]);
  return expected;
}

export interface EventCheck {
  expected: number;
  accepted: number;
  missing: string[];
  missingCount: number;
  unexpected: string[];
  unexpectedCount: number;
  conflicts: number;
  resentIdentical: number;
  /** Events whose data.deliveryIds differ from the job's (a coalesced push that ran without one of its deliveries). */
  wrongDeliveryIds: string[];
  wrongDeliveryIdsCount: number;
}

/** Compares what the stand-in accepted with what the database says should have been sent. */
export function checkEvents(expected: Map<string, ExpectedEvent>, standIn: InngestStandIn): EventCheck {
  const accepted = standIn.acceptedIds();
  const missing = [...expected.keys()].filter((id) => !accepted.has(id));
  const unexpected = [...accepted].filter((id) => !expected.has(id));
  const wrongDeliveryIds: string[] = [];
  for (const [id, want] of expected) {
    const got = standIn.events.get(id);
    if (!got) continue;
    const ids = Array.isArray(got.data.deliveryIds) ? (got.data.deliveryIds as string[]) : [];
    if (ids.length !== want.deliveryIds.length || [...want.deliveryIds].sort().join() !== [...ids].sort().join()) wrongDeliveryIds.push(id);
  }
  return {
    expected: expected.size,
    accepted: accepted.size,
    missing: missing.slice(0, 20),
    missingCount: missing.length,
    unexpected: unexpected.slice(0, 20),
    unexpectedCount: unexpected.length,
    conflicts: standIn.conflicts.length,
    resentIdentical: standIn.resentIdentical(),
    wrongDeliveryIds: wrongDeliveryIds.slice(0, 20),
    wrongDeliveryIdsCount: wrongDeliveryIds.length,
  };
}
