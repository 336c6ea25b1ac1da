// The one way tests and benchmarks sign deliveries: what GitHub puts in X-Hub-Signature-256, computed
// with node:crypto independently of the library the receiver verifies with.
import { createHmac } from 'node:crypto';

/** Hex HMAC of the raw bytes; other algorithms only for deliveries meant to be refused. */
export function hmacHex(body: string | Uint8Array, secret: string, algorithm = 'sha256'): string {
  return createHmac(algorithm, secret).update(body).digest('hex');
}

/** `sha256=<hex HMAC of the raw body>`, as GitHub signs a delivery. */
export function signatureOf(body: string | Uint8Array, secret: string): string {
  return `sha256=${hmacHex(body, secret)}`;
}
