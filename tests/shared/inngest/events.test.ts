import { describe, expect, it } from 'vitest';
import { METRICS_AGGREGATE_EVENT, REPOSITORY_CHANGED_EVENT, eventId } from '../../../src/shared/inngest/events.ts';

const base = {
  source: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
  workspaceId: '0b9f4a2e-8d7c-4f51-9a36-3c1e2f6d7a80',
  name: REPOSITORY_CHANGED_EVENT,
};

describe('event names', () => {
  it('are the agreed strings', () => {
    expect(REPOSITORY_CHANGED_EVENT).toBe('workspace.repository.changed');
    expect(METRICS_AGGREGATE_EVENT).toBe('workspace.metrics.aggregate');
  });
});

describe('eventId', () => {
  it('is deterministic and readable for ordinary inputs', async () => {
    const a = await eventId(base);
    const b = await eventId({ ...base });
    expect(a).toBe(b);
    expect(a).toBe(`workspace.repository.changed:${base.source}:${base.workspaceId}`);
  });

  it('differs when any part differs', async () => {
    const ids = await Promise.all([
      eventId(base),
      eventId({ ...base, source: 'job-1' }),
      eventId({ ...base, workspaceId: 'other-workspace' }),
      eventId({ ...base, name: METRICS_AGGREGATE_EVENT }),
    ]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('cannot be made equal by moving a separator between parts', async () => {
    const a = await eventId({ name: 'n', source: 'a:b', workspaceId: 'c' });
    const b = await eventId({ name: 'n', source: 'a', workspaceId: 'b:c' });
    expect(a).not.toBe(b);
  });

  it('hashes long inputs into a bounded, deterministic, distinct id', async () => {
    const long = { ...base, source: `job-${'x'.repeat(500)}` };
    const a = await eventId(long);
    const b = await eventId({ ...long });
    const c = await eventId({ ...long, source: `${long.source}y` });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a).toMatch(/^workspace\.repository\.changed:sha256=[0-9a-f]{64}$/);
    expect(a.length).toBeLessThanOrEqual(128);
  });

  it('never returns a hashed id for a short input that imitates one', async () => {
    const long = { ...base, source: 'y'.repeat(500) };
    const hashed = await eventId(long);
    const hex = hashed.split('sha256=')[1] ?? '';
    const imitation = await eventId({ name: base.name, source: `sha256=${hex.slice(0, 10)}`, workspaceId: 'w' });
    expect(imitation).not.toContain('sha256=');
  });

  it('rejects empty parts, which would fold unrelated events together', async () => {
    await expect(eventId({ ...base, source: '' })).rejects.toThrow(TypeError);
    await expect(eventId({ ...base, workspaceId: '' })).rejects.toThrow(TypeError);
    await expect(eventId({ ...base, name: '' })).rejects.toThrow(TypeError);
  });
});
