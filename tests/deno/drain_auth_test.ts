// The drain's bearer check under Deno: Web Crypto only, no node:crypto.
import { isAuthorized, timingSafeEqualText } from '../../src/shared/drain/auth.ts';

function assertEquals(actual: unknown, expected: unknown, message: string): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${message}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

function request(authorization?: string): Request {
  const headers = new Headers();
  if (authorization !== undefined) headers.set('authorization', authorization);
  return new Request('http://127.0.0.1/process-webhook', { method: 'POST', headers, body: '{}' });
}

Deno.test('timingSafeEqualText: equal strings', async () => {
  assertEquals(await timingSafeEqualText('s3cret-token', 's3cret-token'), true, 'equal');
  assertEquals(await timingSafeEqualText('', ''), true, 'both empty');
  assertEquals(await timingSafeEqualText('ünïcødé 🔑', 'ünïcødé 🔑'), true, 'non-ASCII');
});

Deno.test('timingSafeEqualText: different strings of the same length', async () => {
  assertEquals(await timingSafeEqualText('s3cret-token', 's3cret-tokeN'), false, 'last char');
  assertEquals(await timingSafeEqualText('a', 'b'), false, 'one char');
});

Deno.test('timingSafeEqualText: different lengths', async () => {
  assertEquals(await timingSafeEqualText('s3cret', 's3cret-token'), false, 'prefix');
  assertEquals(await timingSafeEqualText('s3cret-token ', 's3cret-token'), false, 'trailing space');
  assertEquals(await timingSafeEqualText('', 'x'), false, 'empty vs one');
});

Deno.test('isAuthorized: the right bearer token', async () => {
  assertEquals(await isAuthorized(request('Bearer good'), ['good']), true, 'single token');
  assertEquals(await isAuthorized(request('Bearer good'), ['other', 'good']), true, 'second of two tokens');
});

Deno.test('isAuthorized: a wrong or partial token', async () => {
  assertEquals(await isAuthorized(request('Bearer bad'), ['good']), false, 'wrong');
  assertEquals(await isAuthorized(request('Bearer goo'), ['good']), false, 'prefix');
  assertEquals(await isAuthorized(request('Bearer good-and-more'), ['good']), false, 'longer');
  assertEquals(await isAuthorized(request('good'), ['good']), false, 'no scheme');
  assertEquals(await isAuthorized(request('Basic good'), ['good']), false, 'other scheme');
  assertEquals(await isAuthorized(request('Bearer '), ['good']), false, 'empty token');
});

Deno.test('isAuthorized: a missing header or no accepted tokens', async () => {
  assertEquals(await isAuthorized(request(), ['good']), false, 'missing header');
  assertEquals(await isAuthorized(request('Bearer good'), []), false, 'no tokens');
});

Deno.test('isAuthorized: the scheme is case-insensitive (lowercase bearer)', async () => {
  assertEquals(await isAuthorized(request('bearer good'), ['good']), true, 'lowercase');
  assertEquals(await isAuthorized(request('BEARER good'), ['good']), true, 'uppercase');
});
