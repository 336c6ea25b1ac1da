// Same signature vectors as the Node suite, to prove src/shared behaves identically under Deno.
import { verifySignature } from '../../src/shared/github/verify.ts';
import { parseDelivery } from '../../src/shared/github/delivery.ts';

type Vector = { name: string; secrets: string[]; body: string; header: string | null; expected: boolean };

function assertEquals(actual: unknown, expected: unknown, message: string): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${message}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

const vectors: Vector[] = JSON.parse(
  await Deno.readTextFile(new URL('../fixtures/signature-vectors.json', import.meta.url)),
);

for (const v of vectors) {
  Deno.test(`verifySignature: ${v.name}`, async () => {
    assertEquals(await verifySignature(v.body, v.header, v.secrets), v.expected, v.name);
  });
}

Deno.test('verifySignature throws without secrets', async () => {
  const threw = await verifySignature('{}', null, []).then(() => false, () => true);
  assertEquals(threw, true, 'empty secrets');
});

const push = {
  ref: 'refs/heads/main',
  before: '0000000000000000000000000000000000000000',
  after: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
  commits: [],
  repository: { id: 186853002, full_name: 'Codertocat/Hello-World' },
};

function headers(contentType: string): Headers {
  return new Headers({ 'x-github-event': 'push', 'x-github-delivery': 'd-1', 'content-type': contentType });
}

Deno.test('parseDelivery: JSON body', () => {
  const result = parseDelivery(headers('application/json; charset=utf-8'), JSON.stringify(push));
  assertEquals(result.ok && result.delivery.repository, { id: 186853002, fullName: 'Codertocat/Hello-World' }, 'json');
});

Deno.test('parseDelivery: form-encoded body', () => {
  const body = new URLSearchParams({ payload: JSON.stringify(push) }).toString();
  const result = parseDelivery(headers('application/x-www-form-urlencoded'), body);
  assertEquals(result.ok && result.delivery.event, 'push', 'form');
  assertEquals(parseDelivery(headers('application/x-www-form-urlencoded'), 'x=1').ok, false, 'form without payload');
});

Deno.test('parseDelivery: a payload relabelled as another event is refused', () => {
  const relabelled = new Headers({ 'x-github-event': 'repository', 'x-github-delivery': 'd-2', 'content-type': 'application/json' });
  const result = parseDelivery(relabelled, JSON.stringify({ ...push, action: 'created' }));
  assertEquals(result.ok ? null : result.reason, 'repository payload: the payload has "commits", which belongs to push events, not repository.', 'relabel');
});
