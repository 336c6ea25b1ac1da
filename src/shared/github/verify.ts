import { verifyWithFallback } from '@octokit/webhooks-methods';

// Hex case is normalised because webhooks-methods disagrees with itself: its Node build
// compares strings (uppercase fails), its Web build decodes hex (uppercase passes).
const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

/**
 * Checks X-Hub-Signature-256 against every configured secret (1 secret, or 2 while rotating).
 *
 * `rawBody` must be the body exactly as received, before any parsing (form deliveries are signed
 * over the whole urlencoded body). webhooks-methods only takes strings and HMACs their UTF-8
 * encoding, so the caller decodes the bytes as UTF-8. Consequence: a body whose bytes are not
 * valid UTF-8, or that starts with a BOM the decoder strips, fails verification; GitHub sends
 * neither, and what is verified is exactly the text that gets parsed.
 *
 * Returns false for any bad or missing header; throws only when no usable secret is configured,
 * so a misconfigured deployment can never silently skip verification.
 */
export async function verifySignature(
  rawBody: string,
  signatureHeader: string | null,
  secrets: readonly string[],
): Promise<boolean> {
  const [first, ...rest] = secrets;
  if (first === undefined || secrets.some((s) => typeof s !== 'string' || s === '')) {
    throw new Error('verifySignature: no webhook secret configured (need 1..n non-empty secrets)');
  }
  const hex = signatureHeader === null ? undefined : SIGNATURE.exec(signatureHeader)?.[1];
  // webhooks-methods throws on an empty payload; GitHub never signs one, so it is simply invalid.
  if (hex === undefined || rawBody === '') return false;
  return (await verifyWithFallback(first, rawBody, `sha256=${hex.toLowerCase()}`, rest)) === true;
}
