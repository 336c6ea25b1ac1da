import type { WebhookPayload } from './payloads.ts';

type ActionOf<E extends keyof WebhookPayload> = WebhookPayload[E] extends infer P
  ? P extends { action: infer A extends string } ? A : never
  : never;

/** Fails to compile unless `list` holds every action the pinned GitHub types know for the event. */
function allActions<A extends string>() {
  return <const L extends readonly A[]>(list: L & ([Exclude<A, L[number]>] extends [never] ? unknown : never)) =>
    new Set<string>(list);
}

// What each event's `action` may be, checked against @octokit/openapi-webhooks-types both ways:
// an action missing here or unknown there does not compile. A new action GitHub adds arrives as
// a 400 until that package is updated (the README's troubleshooting says so).
export const KNOWN_ACTIONS: Readonly<Record<'pull_request' | 'issues' | 'repository', ReadonlySet<string>>> = {
  pull_request: allActions<ActionOf<'pull_request'>>()([
    'assigned', 'auto_merge_disabled', 'auto_merge_enabled', 'closed', 'converted_to_draft',
    'demilestoned', 'dequeued', 'edited', 'enqueued', 'labeled', 'locked', 'milestoned', 'opened',
    'ready_for_review', 'reopened', 'review_request_removed', 'review_requested', 'stacked',
    'synchronize', 'unassigned', 'unlabeled', 'unlocked',
  ]),
  issues: allActions<ActionOf<'issues'>>()([
    'assigned', 'closed', 'deleted', 'demilestoned', 'edited', 'field_added', 'field_removed',
    'labeled', 'locked', 'milestoned', 'opened', 'pinned', 'reopened', 'transferred', 'typed',
    'unassigned', 'unlabeled', 'unlocked', 'unpinned', 'untyped',
  ]),
  repository: allActions<ActionOf<'repository'>>()([
    'archived', 'created', 'deleted', 'edited', 'privatized', 'publicized', 'renamed',
    'transferred', 'unarchived',
  ]),
};
