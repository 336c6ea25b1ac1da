import type { SupportedEvent } from '../github/events.ts';
import { eventId, METRICS_AGGREGATE_EVENT, REPOSITORY_CHANGED_EVENT, type OutgoingEvent } from '../inngest/events.ts';

/** One unit of work: a delivery handled inline, or a queued job (possibly several pushes). */
export interface WorkItem {
  event: SupportedEvent;
  action: string | null;
  /** What event ids derive from: the delivery GUID, or the job id for a coalesced push job. */
  source: string;
  deliveryIds: string[];
  repository: { id: number | null; fullName: string | null };
  /** The GitHub payload, or a queued job's subset of it at the same paths. Read for small facts only; never forwarded. */
  data: Record<string, unknown>;
  /** Commits of a (coalesced) push job; null: count `data.commits`. */
  commitCount: number | null;
  workspaceIds: string[];
}

/** What a work item does to each workspace: which caches go stale, which events are sent. */
export interface WorkPlan {
  staleWorkspaceIds: string[];
  events: OutgoingEvent[];
}

/** PR actions that change what a workspace's metrics count. `merged` is `closed` + merged flag. */
const METRIC_PR_ACTIONS = new Set(['opened', 'reopened', 'closed']);

function field(data: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = data[key];
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

async function perWorkspace(
  item: WorkItem,
  name: string,
  facts: Record<string, unknown>,
): Promise<OutgoingEvent[]> {
  return Promise.all(
    item.workspaceIds.map(async (workspaceId) => ({
      name,
      id: await eventId({ source: item.source, workspaceId, name }),
      data: {
        workspaceId,
        repository: item.repository.fullName,
        repositoryId: item.repository.id,
        deliveryIds: item.deliveryIds,
        ...facts,
      },
    })),
  );
}

export async function planWork(item: WorkItem): Promise<WorkPlan> {
  switch (item.event) {
    case 'ping':
      return { staleWorkspaceIds: [], events: [] };
    case 'issues':
      return { staleWorkspaceIds: item.workspaceIds, events: [] };
    case 'pull_request': {
      const pr = field(item.data, 'pull_request');
      const events =
        item.action !== null && METRIC_PR_ACTIONS.has(item.action)
          ? await perWorkspace(item, METRICS_AGGREGATE_EVENT, {
              reason: 'pull_request',
              action: item.action,
              pullRequestNumber: pr.number ?? item.data.number ?? null,
              merged: item.action === 'closed' ? pr.merged === true : false,
            })
          : [];
      return { staleWorkspaceIds: item.workspaceIds, events };
    }
    case 'push':
      // One aggregate per workspace for the whole job, however many pushes it absorbed.
      return {
        staleWorkspaceIds: [],
        events: await perWorkspace(item, METRICS_AGGREGATE_EVENT, {
          reason: 'push',
          ref: item.data.ref ?? null,
          before: item.data.before ?? null,
          after: item.data.after ?? null,
          commitCount: item.commitCount ?? (Array.isArray(item.data.commits) ? item.data.commits.length : null),
          pushes: item.deliveryIds.length,
        }),
      };
    case 'repository':
      return {
        staleWorkspaceIds: [],
        events: await perWorkspace(item, REPOSITORY_CHANGED_EVENT, { action: item.action }),
      };
  }
}
