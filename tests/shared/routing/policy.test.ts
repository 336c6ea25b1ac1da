import { describe, expect, it } from 'vitest';
import { SUPPORTED_EVENTS, type SupportedEvent } from '../../../src/shared/github/events.ts';
import { chooseRoute, jobPriority, type Route } from '../../../src/shared/routing/policy.ts';
import vectors from '../../fixtures/routing-vectors.json';

// The same vectors run under Deno in tests/deno/routing_test.ts.
type RouteVector = {
  name: string;
  event: SupportedEvent;
  workspaces: number;
  workspaceThreshold: number;
  quickEvents: string[];
  expected: Route;
};
type PriorityVector = { name: string; first: SupportedEvent; later: SupportedEvent };

const routes = vectors.routes as RouteVector[];
const priorities = vectors.priorities as PriorityVector[];

describe('chooseRoute', () => {
  it.each(routes)('$name → $expected', ({ event, workspaces, workspaceThreshold, quickEvents, expected }) => {
    expect(chooseRoute(event, workspaces, { workspaceThreshold, quickEvents })).toBe(expected);
  });

  it('the vectors only use supported events and known routes', () => {
    for (const v of routes) {
      expect(SUPPORTED_EVENTS).toContain(v.event);
      expect(['inline', 'queue', 'no_workspace']).toContain(v.expected);
      for (const quick of v.quickEvents) expect(SUPPORTED_EVENTS).toContain(quick);
    }
  });
});

describe('jobPriority', () => {
  it.each(priorities)('$name', ({ first, later }) => {
    expect(jobPriority(first)).toBeLessThan(jobPriority(later));
  });

  it('gives every supported event a finite priority', () => {
    for (const event of SUPPORTED_EVENTS) expect(Number.isFinite(jobPriority(event))).toBe(true);
  });
});
