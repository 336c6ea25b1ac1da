import { describe, it, expect } from 'vitest';
import { sign } from '@octokit/webhooks-methods';
import { verifySignature } from '../../../src/shared/github/verify.ts';
import vectors from '../../fixtures/signature-vectors.json';
import { exampleOf } from '../../helpers/examples.ts';

describe('verifySignature', () => {
  it.each(vectors)('$name → $expected', async ({ body, header, secrets, expected }) => {
    await expect(verifySignature(body, header, secrets)).resolves.toBe(expected);
  });

  it('throws when no secret is configured, whatever the header', async () => {
    await expect(verifySignature('{}', 'sha256=' + '0'.repeat(64), [])).rejects.toThrow(/secret/);
    await expect(verifySignature('{}', null, [])).rejects.toThrow(/secret/);
    await expect(verifySignature('{}', null, ['ok', ''])).rejects.toThrow(/secret/);
  });

  it('verifies a real pull_request.opened payload signed by webhooks-methods', async () => {
    const body = JSON.stringify(exampleOf('pull_request', (p) => p.action === 'opened'));
    const header = await sign('real-secret', body);
    await expect(verifySignature(body, header, ['real-secret'])).resolves.toBe(true);
    await expect(verifySignature(body, header, ['new-secret', 'real-secret'])).resolves.toBe(true);
    await expect(verifySignature(body + ' ', header, ['real-secret'])).resolves.toBe(false);
  });
});
