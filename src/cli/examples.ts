import { createRequire } from 'node:module';

type Definition = { name: string; examples: Record<string, unknown>[] };

let definitions: Definition[] | null = null;

/** Real GitHub payloads from @octokit/webhooks-examples (a bare .json main, so require()). */
export function examplePayload(event: string, action?: string): Record<string, unknown> | null {
  definitions ??= createRequire(import.meta.url)('@octokit/webhooks-examples') as Definition[];
  const examples = definitions.find((d) => d.name === event)?.examples ?? [];
  const found = action ? examples.find((e) => e.action === action) : examples[0];
  return found ? structuredClone(found) : null;
}

export function exampleActions(event: string): string[] {
  definitions ??= createRequire(import.meta.url)('@octokit/webhooks-examples') as Definition[];
  const examples = definitions.find((d) => d.name === event)?.examples ?? [];
  return [...new Set(examples.map((e) => e.action).filter((a): a is string => typeof a === 'string'))];
}
