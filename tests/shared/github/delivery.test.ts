import { describe, it, expect } from 'vitest';
import { parseDelivery, readDeliveryHeaders } from '../../../src/shared/github/delivery.ts';
import { isSupportedEvent } from '../../../src/shared/github/events.ts';
import { createRequire } from 'node:module';
import { SUPPORTED_EVENTS } from '../../../src/shared/github/events.ts';
import { exampleOf, examplesOf } from '../../helpers/examples.ts';

const ID = '72d3162e-cc78-11e3-81ab-4c9367dc0958';

function headers(event: string | null, contentType: string | null = 'application/json', id: string | null = ID) {
  const h = new Headers();
  if (event !== null) h.set('X-GitHub-Event', event);
  if (id !== null) h.set('X-GitHub-Delivery', id);
  if (contentType !== null) h.set('Content-Type', contentType);
  return h;
}

function parse(event: string, payload: unknown, contentType?: string | null) {
  return parseDelivery(headers(event, contentType), JSON.stringify(payload));
}

function reasonOf(result: ReturnType<typeof parseDelivery>): string {
  if (result.ok) throw new Error('expected a parse failure');
  return result.reason;
}

describe('parseDelivery with real examples', () => {
  it.each<[string, ((p: any) => boolean) | undefined]>([
    ['pull_request', (p) => p.action === 'opened'],
    ['pull_request', (p) => p.action === 'closed'],
    ['issues', (p) => p.action === 'opened'],
    ['push', (p) => p.commits.length > 0],
    ['repository', undefined],
  ])('%s %s', (event, predicate) => {
    const payload = exampleOf(event, predicate);
    expect(parse(event, payload)).toEqual({
      ok: true,
      delivery: {
        id: ID,
        event,
        action: payload.action ?? null,
        repository: { id: payload.repository.id, fullName: payload.repository.full_name },
        payload,
      },
    });
  });

  it('pull_request closed and merged (example edited: none of the examples is merged)', () => {
    const payload = exampleOf('pull_request', (p) => p.action === 'closed');
    payload.pull_request.merged = true;
    const result = parse('pull_request', payload);
    expect(result.ok && result.delivery.event === 'pull_request' && result.delivery.payload.pull_request.merged).toBe(true);
  });

  it('ping from a repository hook', () => {
    const result = parse('ping', exampleOf('ping', (p) => p.repository !== undefined));
    expect(result).toMatchObject({
      ok: true,
      delivery: { event: 'ping', action: null, repository: { id: 186853261, fullName: 'Octocoders/Hello-World' } },
    });
  });

  it('ping from an organization hook has no repository', () => {
    const result = parse('ping', exampleOf('ping', (p) => p.repository === undefined));
    expect(result).toMatchObject({ ok: true, delivery: { event: 'ping', action: null, repository: null } });
  });
});

describe('parseDelivery content types', () => {
  const push = exampleOf('push');

  it.each(['application/json; charset=utf-8', 'text/plain', null])('JSON with content type %s', (contentType) => {
    expect(parse('push', push, contentType).ok).toBe(true);
  });

  it('form-encoded payload field', () => {
    const body = new URLSearchParams({ payload: JSON.stringify(push) }).toString();
    const result = parseDelivery(headers('push', 'application/x-www-form-urlencoded'), body);
    expect(result).toMatchObject({ ok: true, delivery: { event: 'push', payload: push } });
  });
});

describe('parseDelivery 400 reasons', () => {
  const form = 'application/x-www-form-urlencoded';

  it.each([
    ['body not JSON', headers('push'), 'not json', /body is not valid JSON/],
    ['JSON array', headers('push'), '[]', /JSON object, not an array/],
    ['JSON string', headers('push'), '"hi"', /JSON object, not a string/],
    ['JSON null', headers('push'), 'null', /JSON object, not null/],
    ['form without payload', headers('push', form), 'foo=bar', /no "payload" field/],
    ['form payload not JSON', headers('push', form), 'payload=%7Bnope', /"payload" form field is not valid JSON/],
    ['missing X-GitHub-Event', headers(null), '{}', /X-GitHub-Event header is missing/],
    ['missing X-GitHub-Delivery', headers('push', 'application/json', null), '{}', /X-GitHub-Delivery header is missing/],
    ['empty X-GitHub-Delivery', headers('push', 'application/json', ''), '{}', /X-GitHub-Delivery header is missing/],
    ['unsupported event', headers('star'), '{}', /"star" is not a supported event/],
  ])('%s', (_name, h, body, reason) => {
    expect(reasonOf(parseDelivery(h, body))).toMatch(reason);
  });

  type Edit = [string, string, ((p: any) => boolean) | undefined, (p: any) => void, string];
  it.each<Edit>([
    ['no repository.full_name', 'issues', undefined, (p) => delete p.repository.full_name, '"repository.full_name"'],
    ['full_name without owner', 'issues', undefined, (p) => (p.repository.full_name = 'Hello-World'), '"repository.full_name"'],
    ['repository.id as string', 'repository', undefined, (p) => (p.repository.id = '1'), '"repository.id"'],
    ['no repository at all', 'push', undefined, (p) => delete p.repository, '"repository.id"'],
    ['push without commits', 'push', undefined, (p) => delete p.commits, '"commits"'],
    ['push without ref', 'push', undefined, (p) => delete p.ref, '"ref"'],
    ['push without after', 'push', undefined, (p) => (p.after = null), '"after"'],
    ['pull_request without action', 'pull_request', undefined, (p) => delete p.action, '"action"'],
    ['pull_request without number', 'pull_request', undefined, (p) => delete p.pull_request.number, '"pull_request.number"'],
    ['closed pull_request without merged', 'pull_request', (p) => p.action === 'closed', (p) => delete p.pull_request.merged, '"pull_request.merged"'],
    ['merged not a boolean', 'pull_request', undefined, (p) => (p.pull_request.merged = 'yes'), '"pull_request.merged"'],
    ['issues without issue.number', 'issues', undefined, (p) => delete p.issue.number, '"issue.number"'],
    ['repository without action', 'repository', undefined, (p) => delete p.action, '"action"'],
    ['ping without zen and hook_id', 'ping', undefined, (p) => (delete p.zen, delete p.hook_id), '"hook_id"'],
    ['ping with a broken repository', 'ping', undefined, (p) => (p.repository.id = null), '"repository.id"'],
  ])('%s', (_name, event, predicate, edit, field) => {
    const payload = exampleOf(event, predicate);
    edit(payload);
    const reason = reasonOf(parse(event, payload));
    expect(reason).toContain(field);
    expect(reason.startsWith(`${event} payload:`)).toBe(true);
  });

  it('accepts a non-closed pull_request without merged', () => {
    const payload = exampleOf('pull_request', (p) => p.action === 'opened');
    delete payload.pull_request.merged;
    expect(parse('pull_request', payload).ok).toBe(true);
  });
});

describe('readDeliveryHeaders / isSupportedEvent', () => {
  it('reads id and event, null when absent or empty', () => {
    expect(readDeliveryHeaders(headers('star'))).toEqual({ id: ID, event: 'star' });
    expect(readDeliveryHeaders(headers(null, null, ''))).toEqual({ id: null, event: null });
  });

  it('knows the supported events', () => {
    expect(['ping', 'pull_request', 'issues', 'push', 'repository'].every(isSupportedEvent)).toBe(true);
    expect([null, 'star', 'pull_request_review', ''].some(isSupportedEvent)).toBe(false);
  });
});

describe('payloads Postgres cannot store are a 400, not a 5xx', () => {
  const headers = () =>
    new Headers({ 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'd-1' });
  const push = () => exampleOf('push');

  it('rejects U+0000 anywhere in the payload', () => {
    const payload = push();
    payload.head_commit = { ...(payload.head_commit ?? {}), message: 'fix\u0000' };
    const result = parseDelivery(headers(), JSON.stringify(payload));
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/U\+0000/) });
  });

  it('rejects an unpaired surrogate escape, and accepts a real emoji pair', () => {
    const bad = JSON.stringify(push()).replace('"ref":', '"x":"\\ud800","ref":');
    expect(parseDelivery(headers(), bad)).toEqual({ ok: false, reason: expect.stringMatching(/surrogate/) });
    const good = JSON.stringify({ ...push(), note: '\ud83d\ude80' });
    expect(parseDelivery(headers(), good).ok).toBe(true);
  });

  it('rejects a key with U+0000 and nesting deeper than the limit', () => {
    const payload = push();
    payload['odd\u0000key'] = 1;
    expect(parseDelivery(headers(), JSON.stringify(payload)).ok).toBe(false);
    // Built as text: JSON.stringify itself overflows the stack at this depth.
    const nested = JSON.stringify(push()).replace(/}$/, `,"deep":${'['.repeat(5_000)}"x"${']'.repeat(5_000)}}`);
    expect(parseDelivery(headers(), nested)).toEqual({ ok: false, reason: expect.stringMatching(/nested deeper/) });
  });
});


describe('a payload must fit its X-GitHub-Event (the header is not signed)', () => {
  const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as { name: string; examples: unknown[] }[];

  it('every real example of the supported events is accepted as itself', () => {
    const refused = SUPPORTED_EVENTS.flatMap((event) =>
      examplesOf(event)
        .map((payload) => [event, payload.action, parse(event, payload)] as const)
        .filter(([, , result]) => !result.ok)
        .map(([e, action, result]) => `${e}.${action}: ${result.ok ? '' : result.reason}`),
    );
    expect(refused).toEqual([]);
  });

  it('no real example of any other event passes when relabelled as a supported one', () => {
    const passed: string[] = [];
    for (const { name, examples } of definitions) {
      if ((SUPPORTED_EVENTS as readonly string[]).includes(name)) continue;
      for (const payload of examples as { action?: string }[]) {
        for (const label of ['pull_request', 'issues', 'push', 'repository']) {
          if (parse(label, payload).ok) passed.push(`${name}.${payload.action} as ${label}`);
        }
      }
    }
    expect(passed).toEqual([]);
  });

  it.each([
    ['pull_request', 'issues'],
    ['pull_request', 'repository'],
    ['issues', 'pull_request'],
    ['issues', 'repository'],
    ['push', 'repository'],
    ['push', 'pull_request'],
    ['repository', 'push'],
  ])('every %s example relabelled as %s is refused', (event, label) => {
    const passed = examplesOf(event).filter((payload) => parse(label, payload).ok);
    expect(passed.map((p) => p.action)).toEqual([]);
  });
});
