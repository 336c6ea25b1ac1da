/** The local stack's log: one JSON object a line on stdout, as a log drain would take it. */
export function logLine(entry: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
}
