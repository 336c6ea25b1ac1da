import type { SupportedEvent } from '../github/events.ts';

export type Route = 'inline' | 'queue' | 'no_workspace';

export interface RoutingPolicy {
  workspaceThreshold: number;
  quickEvents: readonly string[];
}

/**
 * Where a delivery's work runs. Pure: the same inputs always give the same route.
 * - `ping` carries no workspace work and is always answered inline.
 * - A repository that no active workspace tracks needs no work at all.
 * - More workspaces than the threshold always go to the queue, quick or not: fan-out is what
 *   breaks GitHub's 10-second deadline.
 * - At or under the threshold, quick events run inline and the rest are queued.
 */
export function chooseRoute(event: SupportedEvent, workspaceCount: number, policy: RoutingPolicy): Route {
  if (event === 'ping') return 'inline';
  if (workspaceCount === 0) return 'no_workspace';
  if (workspaceCount > policy.workspaceThreshold) return 'queue';
  return policy.quickEvents.includes(event) ? 'inline' : 'queue';
}

/**
 * True when, for a tracked repository, the event is queued whatever the workspace count: then
 * only "tracked at all?" is left to decide, which the enqueue can answer in the same round trip
 * (receive_webhook_delivery records no_workspace when the count is 0). Quick events need the count
 * first to choose inline work; a ping needs none (always inline, no work).
 */
export function queuedWhenTracked(event: SupportedEvent, policy: RoutingPolicy): boolean {
  return event !== 'ping' && !policy.quickEvents.includes(event);
}

/** Lower runs first: pull requests and issues are what users look at; pushes are debounced. */
export function jobPriority(event: SupportedEvent): number {
  switch (event) {
    case 'pull_request':
    case 'issues':
      return 10;
    case 'repository':
    case 'ping':
      return 20;
    case 'push':
      return 30;
  }
}
