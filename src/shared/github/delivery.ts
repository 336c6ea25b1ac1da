import { KNOWN_ACTIONS } from './actions.ts';
import { isSupportedEvent, SUPPORTED_EVENTS, type SupportedEvent } from './events.ts';
import type { WebhookPayload } from './payloads.ts';
import { unstorableReason } from './storable.ts';

export type { WebhookPayload } from './payloads.ts';

export type Delivery = {
  [E in SupportedEvent]: {
    /** X-GitHub-Delivery; redeliveries reuse it. */
    id: string;
    event: E;
    action: string | null;
    /** null only for pings from org or app hooks. */
    repository: { id: number; fullName: string } | null;
    payload: WebhookPayload[E];
  };
}[SupportedEvent];

export type ParseResult = { ok: true; delivery: Delivery } | { ok: false; reason: string };

type Obj = Record<string, unknown>;
type Rule = [path: string, test: (v: unknown) => boolean, expected: string];

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown) => typeof v === 'string' && v !== '';
const isInt = (v: unknown) => Number.isSafeInteger(v);
const isFullName = (v: unknown) => typeof v === 'string' && v.length <= MAX_NAME_LENGTH && /^[^/\s]+\/[^/\s]+$/.test(v);
const isSha = (v: unknown) => typeof v === 'string' && /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(v);
const isRef = (v: unknown) => typeof v === 'string' && v !== '' && v.length <= MAX_REF_LENGTH;

// GitHub's own limits are far below these; the bounds keep a queued job (and a claim round of
// them) small whatever a signed payload holds.
const MAX_NAME_LENGTH = 512;
const MAX_REF_LENGTH = 1024;

const REPOSITORY: Rule[] = [
  ['repository.id', isInt, 'a number'],
  ['repository.full_name', isFullName, 'an "owner/name" string'],
];
const ACTION: Rule = ['action', isText, 'a string'];

// Only what the router reads is checked: the HMAC already proved GitHub sent the rest.
const RULES: Record<SupportedEvent, Rule[]> = {
  ping: [],
  pull_request: [...REPOSITORY, ACTION, ['pull_request.number', isInt, 'a number']],
  issues: [...REPOSITORY, ACTION, ['issue.number', isInt, 'a number']],
  push: [
    ...REPOSITORY,
    ['ref', isRef, `a string of at most ${MAX_REF_LENGTH} characters`],
    ['before', isSha, 'a commit sha'],
    ['after', isSha, 'a commit sha'],
    ['commits', Array.isArray, 'an array'],
  ],
  repository: [...REPOSITORY, ACTION],
};

export function readDeliveryHeaders(headers: Headers): { id: string | null; event: string | null } {
  return {
    id: headers.get('x-github-delivery') || null,
    event: headers.get('x-github-event') || null,
  };
}

export function parseDelivery(headers: Headers, rawBody: string): ParseResult {
  const { id, event } = readDeliveryHeaders(headers);
  if (event === null) return fail('The X-GitHub-Event header is missing.');
  if (id === null) return fail('The X-GitHub-Delivery header is missing.');
  if (!isSupportedEvent(event)) return fail(`The X-GitHub-Event "${event}" is not a supported event.`);

  const body = decodeBody(headers.get('content-type'), rawBody);
  if (typeof body === 'string') return fail(body);
  if (!isObj(body.value)) {
    return fail(`The payload must be a JSON object, not ${describe(body.value)}.`);
  }
  const payload = body.value;

  const unstorable = unstorableReason(payload, body.text);
  if (unstorable !== null) return fail(`The payload cannot be stored: ${unstorable}.`);
  const problem = validate(event, payload);
  if (problem !== null) return fail(`${event} payload: ${problem}`);

  const repo = payload['repository'];
  const delivery = {
    id,
    event,
    action: typeof payload['action'] === 'string' ? payload['action'] : null,
    repository: isObj(repo) ? { id: repo['id'] as number, fullName: repo['full_name'] as string } : null,
    payload,
  } as Delivery;
  return { ok: true, delivery };
}

const isForm = (contentType: string | null) =>
  (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'application/x-www-form-urlencoded';

/**
 * The payload's JSON text: the body, or a form body's `payload` field (null when it has none).
 * GitHub sends the same event as JSON or as a form depending on each hook's content type, so this
 * — not the raw bytes — is what identifies an event's body.
 */
export function payloadText(contentType: string | null, rawBody: string): string | null {
  return isForm(contentType) ? new URLSearchParams(rawBody).get('payload') : rawBody;
}

/** Returns the parsed JSON, or a reason string. */
function decodeBody(contentType: string | null, rawBody: string): { value: unknown; text: string } | string {
  const json = payloadText(contentType, rawBody);
  if (json === null) return 'The form-encoded body has no "payload" field.';
  try {
    return { value: JSON.parse(json), text: json };
  } catch {
    return isForm(contentType) ? 'The "payload" form field is not valid JSON.' : 'The request body is not valid JSON.';
  }
}

function validate(event: SupportedEvent, payload: Obj): string | null {
  const rules = [...RULES[event]];
  if (event === 'ping') {
    if (!isText(payload['zen']) && !isInt(payload['hook_id'])) {
      return '"zen" and "hook_id" are both missing; one of them is required.';
    }
    if (payload['repository'] != null) rules.push(...REPOSITORY);
  }
  const misfit = eventMisfit(event, payload);
  if (misfit !== null) return misfit;
  for (const [path, test, expected] of rules) {
    if (!test(at(payload, path))) return `"${path}" is missing or not ${expected}.`;
  }
  if (event === 'pull_request') {
    const merged = at(payload, 'pull_request.merged');
    // Only a closed PR needs "merged" to tell a merge from an abandon.
    const required = payload['action'] === 'closed';
    if (required ? typeof merged !== 'boolean' : merged != null && typeof merged !== 'boolean') {
      return `"pull_request.merged" is ${required ? 'missing or ' : ''}not a boolean.`;
    }
  }
  return null;
}

/**
 * The top-level objects that make a payload one event and not another. X-GitHub-Event is not
 * signed, so a captured body relabelled as another event must not pass as that event.
 */
const DEFINING_KEYS: Partial<Record<SupportedEvent, readonly string[]>> = {
  pull_request: ['pull_request'],
  issues: ['issue'],
  push: ['commits', 'head_commit', 'pusher'],
};

/**
 * Objects that only other events' payloads carry (comments, reviews, releases, check runs, stars …,
 * from @octokit/webhooks-examples): a payload with one is some other event's, relabelled.
 */
const FOREIGN_KEYS: readonly string[] = [
  'alert', 'answer', 'check_run', 'check_suite', 'client_payload', 'comment', 'deployment',
  'deployment_status', 'discussion', 'forkee', 'invitation', 'key', 'marketplace_purchase', 'member',
  'membership', 'merge_group', 'package', 'pages', 'project', 'project_card', 'project_column',
  'projects_v2_item', 'pusher_type', 'ref_type', 'release', 'review', 'rule', 'security_advisory',
  'sponsorship', 'starred_at', 'team', 'thread', 'workflow', 'workflow_job', 'workflow_run',
];

/** What issues, pull requests and hooks carry and a repository event never does (a label, milestone or meta event's body). */
const NOT_IN_REPOSITORY_EVENTS: readonly string[] = ['label', 'milestone', 'assignee', 'number', 'requested_reviewer', 'hook', 'hook_id', 'zen'];

// Per event, every key the searches below look for: a payload with none of them (nearly all)
// skips them.
const MISFIT_KEYS = Object.fromEntries(
  SUPPORTED_EVENTS.map((event) => [
    event,
    new Set([
      ...Object.entries(DEFINING_KEYS).flatMap(([other, keys]) => (other === event ? [] : keys)),
      ...FOREIGN_KEYS,
      ...(event === 'repository' ? NOT_IN_REPOSITORY_EVENTS : []),
    ]),
  ]),
) as unknown as Record<SupportedEvent, ReadonlySet<string>>;

function eventMisfit(event: SupportedEvent, payload: Obj): string | null {
  let suspect = false;
  const keys = MISFIT_KEYS[event];
  // A parsed payload's keys are its own (JSON.parse adds none to the prototype), so this sees
  // every key the `in` searches below could find.
  for (const key in payload) {
    if (keys.has(key)) {
      suspect = true;
      break;
    }
  }
  if (suspect) {
    const misfit = keyMisfit(event, payload);
    if (misfit !== null) return misfit;
  }
  return actionMisfit(event, payload);
}

function keyMisfit(event: SupportedEvent, payload: Obj): string | null {
  for (const [other, keys] of Object.entries(DEFINING_KEYS)) {
    if (other === event) continue;
    const foreign = keys.find((key) => key in payload);
    if (foreign !== undefined) return `the payload has "${foreign}", which belongs to ${other} events, not ${event}.`;
  }
  const alien = FOREIGN_KEYS.find((key) => key in payload) ?? (event === 'repository' ? NOT_IN_REPOSITORY_EVENTS.find((key) => key in payload) : undefined);
  if (alien !== undefined) return `the payload has "${alien}", which ${event} events do not carry.`;
  return null;
}

function actionMisfit(event: SupportedEvent, payload: Obj): string | null {
  if (event === 'pull_request' || event === 'issues' || event === 'repository') {
    const action = payload['action'];
    if (typeof action === 'string' && action !== '' && !KNOWN_ACTIONS[event].has(action)) {
      return `"${action}" is not a known ${event} action.`;
    }
  } else if ('action' in payload) {
    return `${event} payloads have no "action".`;
  }
  return null;
}

function at(value: unknown, path: string): unknown {
  for (const key of path.split('.')) value = isObj(value) ? value[key] : undefined;
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function fail(reason: string): ParseResult {
  return { ok: false, reason };
}
