// Same routing vectors as the Node suite (tests/shared/routing/policy.test.ts), run under Deno.
import { SUPPORTED_EVENTS, type SupportedEvent } from '../../src/shared/github/events.ts';
import { chooseRoute, jobPriority, type Route } from '../../src/shared/routing/policy.ts';

type RouteVector = {
  name: string;
  event: SupportedEvent;
  workspaces: number;
  workspaceThreshold: number;
  quickEvents: string[];
  expected: Route;
};
type PriorityVector = { name: string; first: SupportedEvent; later: SupportedEvent };

function assertEquals(actual: unknown, expected: unknown, message: string): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${message}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

const vectors: { routes: RouteVector[]; priorities: PriorityVector[] } = JSON.parse(
  await Deno.readTextFile(new URL('../fixtures/routing-vectors.json', import.meta.url)),
);

if (vectors.routes.length === 0 || vectors.priorities.length === 0) {
  throw new Error('routing-vectors.json has no vectors');
}

for (const v of vectors.routes) {
  Deno.test(`chooseRoute: ${v.name}`, () => {
    if (!(SUPPORTED_EVENTS as readonly string[]).includes(v.event)) throw new Error(`unsupported event ${v.event}`);
    const route = chooseRoute(v.event, v.workspaces, {
      workspaceThreshold: v.workspaceThreshold,
      quickEvents: v.quickEvents,
    });
    assertEquals(route, v.expected, v.name);
  });
}

for (const v of vectors.priorities) {
  Deno.test(`jobPriority: ${v.name}`, () => {
    const first = jobPriority(v.first);
    const later = jobPriority(v.later);
    if (!(first < later)) throw new Error(`${v.name}: expected ${v.first} (${first}) < ${v.later} (${later})`);
  });
}
