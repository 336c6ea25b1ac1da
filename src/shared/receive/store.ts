import type { Database } from '../db/port.ts';

export type RecordedRoute = 'inline' | 'queued' | 'no_workspace' | 'ignored';

/** What identifies a delivery: its GUID, and its body (GitHub signs only the body). */
export interface DeliveryKey {
  deliveryId: string;
  /** SHA-256 of the raw body, hex. */
  bodySha256: string;
}

interface DeliveryFacts extends DeliveryKey {
  event: string;
  action: string | null;
  repository: string | null;
  repositoryId: number | null;
  responseMs: number;
}

export interface Inspection {
  alreadyRecorded: boolean;
  workspaceCount: number;
  /** Present when the count is at most the requested id limit. */
  workspaceIds: string[] | null;
}

export async function inspectDelivery(
  db: Database,
  input: DeliveryKey & { repositoryId: number | null; repository: string | null; idLimit: number },
): Promise<Inspection> {
  const [row] = await db.call<{ already_recorded: boolean; workspace_count: number; workspace_ids: string[] | null }>(
    'inspect_webhook_delivery',
    {
      p_delivery_id: input.deliveryId,
      p_body_sha256: input.bodySha256,
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

/**
 * Files the delivery as a duplicate if its GUID or body is already recorded (monitoring counts
 * duplicates and their answer times); true when it was one.
 */
export async function recordIfDuplicate(
  db: Database,
  input: DeliveryKey & { event: string; responseMs: number },
): Promise<boolean> {
  const rows = await db.call('record_webhook_duplicate', {
    p_delivery_id: input.deliveryId,
    p_body_sha256: input.bodySha256,
    p_event: input.event,
    p_response_ms: Math.round(input.responseMs),
  });
  return rows.length > 0;
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
  /** This delivery's enqueue found no drain running: the caller starts one. */
  kick: boolean;
}

/** Records the delivery and, with `job`, enqueues or coalesces it, in one transaction. */
export async function recordDelivery(
  db: Database,
  input: DeliveryFacts & {
    route: RecordedRoute;
    statusCode: number;
    workspaceCount: number | null;
    job?: NewJob;
    kickHoldSeconds?: number;
  },
): Promise<Recorded> {
  const [row] = await db.call<{ duplicate: boolean; job_id: string | null; coalesced: boolean; kick: boolean }>(
    'record_webhook_delivery',
    {
      p_delivery_id: input.deliveryId,
      p_body_sha256: input.bodySha256,
      p_event: input.event,
      p_action: input.action,
      p_repository: input.repository,
      p_repository_github_id: input.repositoryId,
      p_route: input.route,
      p_status_code: input.statusCode,
      p_response_ms: Math.round(input.responseMs),
      p_workspace_count: input.workspaceCount,
      p_job: input.job ?? null,
      p_kick_hold_seconds: input.kickHoldSeconds,
    },
  );
  if (!row) throw new Error('record_webhook_delivery returned no row');
  return { duplicate: row.duplicate, jobId: row.job_id, coalesced: row.coalesced, kick: row.kick };
}

export interface Received extends Recorded {
  route: 'queued' | 'coalesced' | 'no_workspace' | null;
  workspaceCount: number | null;
}

/**
 * The queued path in one round trip: dedup, count the affected workspaces, record, and enqueue or
 * coalesce (or record no_workspace when nobody tracks the repository).
 */
export async function receiveQueued(
  db: Database,
  input: DeliveryFacts & { job: NewJob; kickHoldSeconds: number },
): Promise<Received> {
  const [row] = await db.call<{
    duplicate: boolean;
    route: Received['route'];
    workspace_count: number | null;
    job_id: string | null;
    coalesced: boolean;
    kick: boolean;
  }>('receive_webhook_delivery', {
    p_delivery_id: input.deliveryId,
    p_body_sha256: input.bodySha256,
    p_event: input.event,
    p_action: input.action,
    p_repository: input.repository,
    p_repository_github_id: input.repositoryId,
    p_response_ms: Math.round(input.responseMs),
    p_job: input.job,
    p_kick_hold_seconds: input.kickHoldSeconds,
  });
  if (!row) throw new Error('receive_webhook_delivery returned no row');
  return {
    duplicate: row.duplicate,
    route: row.route,
    workspaceCount: row.workspace_count,
    jobId: row.job_id,
    coalesced: row.coalesced,
    kick: row.kick,
  };
}
