import { errorMessage } from '../errors.ts';
import type { Delivery } from '../github/delivery.ts';
import { jobPayloadOf } from '../github/job-payload.ts';
import { jobPriority } from '../routing/policy.ts';
import type { ReceiveDeps } from './deps.ts';
import type { NewJob } from './store.ts';

/** Pushes of one repository and ref coalesce while the job waits out its debounce window. */
export function debounced(delivery: Delivery, deps: ReceiveDeps): boolean {
  return delivery.event === 'push' && delivery.repository !== null && deps.config.pushDebounceSeconds > 0;
}

/**
 * The job a delivery queues. `safetyNetSeconds`: the job of a quick event done inline, which no
 * drain may run before then (it runs only if the receiver dies before finishing the work).
 */
export function newJob(delivery: Delivery, deps: ReceiveDeps, safetyNetSeconds?: number): NewJob {
  const coalescible = safetyNetSeconds === undefined && delivery.event === 'push' && delivery.repository !== null;
  return {
    type: `webhook/${delivery.event}`,
    payload: jobPayloadOf(delivery, new Date().toISOString()),
    priority: jobPriority(delivery.event),
    max_retries: deps.config.drain.maxRetries,
    coalesce_key: coalescible && delivery.event === 'push' ? `push:${delivery.repository?.id}:${delivery.payload.ref}` : null,
    delay_seconds: safetyNetSeconds ?? (debounced(delivery, deps) ? deps.config.pushDebounceSeconds : 0),
  };
}

/**
 * Starts a drain when the enqueue asked for one; a burst of deliveries asks once. A kick that
 * fails gives the marker back, so the next delivery kicks again instead of waiting out the hold.
 */
export function kick(enqueued: { kick: boolean; jobId: string | null }, deps: ReceiveDeps): void {
  if (!enqueued.kick || !deps.kickDrain) return;
  const started = deps.kickDrain().catch(async (error: unknown) => {
    deps.log?.({ msg: 'drain kick failed', jobId: enqueued.jobId, error: errorMessage(error) });
    await deps.db?.call('free_drain_kick', {}).catch(() => {});
  });
  deps.waitUntil?.(started);
}

export function queuedAnswer(
  delivery: Delivery,
  enqueued: { jobId: string | null; coalesced: boolean },
  workspaces: number,
  deps: ReceiveDeps,
): Record<string, unknown> {
  return {
    route: 'queued',
    jobId: enqueued.jobId,
    coalesced: enqueued.coalesced,
    workspaces,
    ...(debounced(delivery, deps) ? { debounceSeconds: deps.config.pushDebounceSeconds } : {}),
  };
}
