import { redactCredentials } from '../../shared/db/redact.ts';

/**
 * The local stack's log: one JSON object a line on stdout, as a log drain would take it, with any
 * connection string's password masked.
 */
export function logLine(entry: Record<string, unknown>): void {
  const line = JSON.stringify({ at: new Date().toISOString(), ...entry });
  process.stdout.write(`${redactCredentials(line)}\n`);
}
