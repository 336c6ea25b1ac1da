import type { operations } from '@octokit/openapi-webhooks-types';

// The supported events' payloads as @octokit/openapi-webhooks-types describes them (types only:
// nothing of the package is loaded at run time).

type BodyOf<K extends keyof operations> = operations[K] extends {
  requestBody: { content: { 'application/json': infer B } };
} ? B : never;

// Operation keys are "<event>/<action>" with the event in kebab case ("pull-request/opened");
// matching on "<event>/" keeps sibling events such as "pull-request-review/..." out.
type PayloadOf<E extends string> = {
  [K in keyof operations]: K extends E | `${E}/${string}` ? BodyOf<K> : never;
}[keyof operations];

export type WebhookPayload = {
  ping: PayloadOf<'ping'>;
  pull_request: PayloadOf<'pull-request'>;
  issues: PayloadOf<'issues'>;
  push: PayloadOf<'push'>;
  repository: PayloadOf<'repository'>;
};
