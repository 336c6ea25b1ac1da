import { createRequire } from 'node:module';

type Definition = { name: string; examples: unknown[] };

// require() because the package's main is a bare .json file, which ESM import rejects without attributes.
const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as Definition[];

/** Deep copies of every real example payload of `event` (GitHub event name, e.g. "pull_request"). */
export function examplesOf(event: string): any[] {
  const definition = definitions.find((d) => d.name === event);
  if (definition === undefined) throw new Error(`@octokit/webhooks-examples has no "${event}" event`);
  return definition.examples.map((e) => structuredClone(e));
}

/** Deep copy of the first real example of `event` matching `predicate`; throws if none does. */
export function exampleOf(event: string, predicate: (p: any) => boolean = () => true): any {
  const found = examplesOf(event).find(predicate);
  if (found === undefined) throw new Error(`no "${event}" example matches the predicate`);
  return found;
}
