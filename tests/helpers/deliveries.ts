import { freshPayload } from '../../src/cli/fresh-payload.ts';
import { exampleOf } from './examples.ts';
import { signatureOf } from './sign.ts';

export const TEST_SECRET = 'test-webhook-secret';
export const HOOK_URL = 'http://localhost/.netlify/functions/api-workspaces-webhook-hybrid';

let counter = 0;
export function newDeliveryId(): string {
  counter += 1;
  return `${crypto.randomUUID()}-${counter}`;
}

/**
 * A real example payload of `event` with its repository rewritten to the given one, made unique
 * (fresh timestamps and head commit) as GitHub's bodies are: the receiver treats a body it has
 * seen as a duplicate whatever its GUID.
 */
export function payloadFor(
  event: string,
  repo: { fullName: string; githubId: number } | null,
  predicate?: (p: any) => boolean,
): any {
  const payload = exampleOf(event, predicate);
  if (repo && payload.repository) {
    payload.repository.full_name = repo.fullName;
    payload.repository.name = repo.fullName.split('/')[1];
    payload.repository.id = repo.githubId;
  }
  return freshPayload(event, payload);
}

export interface SignedOptions {
  event: string;
  payload: unknown;
  delivery?: string;
  secret?: string;
  form?: boolean;
  headers?: Record<string, string>;
  body?: string;
}

/** A delivery as GitHub sends it: raw body signed with X-Hub-Signature-256. */
export async function signedRequest(options: SignedOptions): Promise<Request> {
  const json = JSON.stringify(options.payload);
  const body = options.body ?? (options.form ? `payload=${encodeURIComponent(json)}` : json);
  const headers: Record<string, string> = {
    'content-type': options.form ? 'application/x-www-form-urlencoded' : 'application/json',
    'x-github-event': options.event,
    'x-github-delivery': options.delivery ?? newDeliveryId(),
    'x-hub-signature-256': signatureOf(body, options.secret ?? TEST_SECRET),
    'user-agent': 'GitHub-Hookshot/test',
    ...options.headers,
  };
  return new Request(HOOK_URL, { method: 'POST', headers, body });
}
