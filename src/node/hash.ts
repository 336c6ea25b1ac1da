import { createHash } from 'node:crypto';

/** Hex SHA-256 of a delivery's payload bytes, hashed in place (the receive core's `hashBody`). */
export function sha256HexNode(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
