import type { Database } from '../db/port.ts';

export type RecordedRoute = 'inline' | 'queued' | 'no_workspace' | 'ignored';

export interface Inspection {
  alreadyRecorded: boolean;
  workspaceCount: number;
  /** Present when the count is at most the requested id limit. */
  workspaceIds: string[] | null;
}

export async function inspectDelivery(
  db: Database,
  input: { deliveryId: string; repositoryId: number | null; repository: string | null; idLimit: number },
): Promise<Inspection> {
  const [row] = await db.call<{ already_recorded: boolean; workspace_count: number; workspace_ids: string[] | null }>(
    'inspect_webhook_delivery',
    {
      p_delivery_id: input.deliveryId,
      p_repository_github_id: input.repositoryId,
      p_repository: input.repository,
      p_id_limit: input.idLimit,
    },
  );
  if (!row) throw new Error('inspect_webhook_delivery returned no row');
  return {
    alreadyRecorded: row.already_recorded,
    workspaceCount: row.workspace_count,
    workspaceIds: row.workspace_ids,
  };
}

export interface NewJob {
  type: string;
  payload: Record<string, unknown>;
  priority: number;
  max_retries: number;
  coalesce_key: string | null;
  /** Not claimable before this many seconds (a push's debounce window). */
  delay_seconds?: number;
}

export interface Recorded {
  duplicate: boolean;
  jobId: string | null;
  coalesced: boolean;
}

/** Records the delivery and, with `job`, enqueues or coalesces it, in one transaction. */
export async function recordDelivery(
  db: Database,
  input: {
    deliveryId: string;
    event: string;
    action: string | null;
    repository: string | null;
    repositoryId: number | null;
    route: RecordedRoute;
    statusCode: number;
    responseMs: number;
    workspaceCount: number | null;
    job?: NewJob;
  },
): Promise<Recorded> {
  const [row] = await db.call<{ duplicate: boolean; job_id: string | null; coalesced: boolean }>(
    'record_webhook_delivery',
    {
      p_delivery_id: input.deliveryId,
      p_event: input.event,
      p_action: input.action,
      p_repository: input.repository,
      p_repository_github_id: input.repositoryId,
      p_route: input.route,
      p_status_code: input.statusCode,
      p_response_ms: Math.round(input.responseMs),
      p_workspace_count: input.workspaceCount,
      p_job: input.job ?? null,
    },
  );
  if (!row) throw new Error('record_webhook_delivery returned no row');
  return { duplicate: row.duplicate, jobId: row.job_id, coalesced: row.coalesced };
}
