export const REPOSITORY_CHANGED_EVENT = 'workspace.repository.changed';
export const METRICS_AGGREGATE_EVENT = 'workspace.metrics.aggregate';

export type OutgoingEvent = { name: string; id: string; data: Record<string, unknown> };

// Inngest documents no limit on event ids (only 256 chars for names), so a readable id is
// fine as long as it stays short; this cap keeps arbitrarily long job ids from producing
// ids an undocumented server-side limit might reject.
const MAX_READABLE_ID_LENGTH = 128;

/**
 * Inngest drops a second event with the same id for 24 h, so the id must be a pure function
 * of what makes the event distinct: retried deliveries and re-run jobs then re-send the same
 * id instead of triggering a second run.
 */
export async function eventId(parts: {
  source: string /* delivery GUID or job id */;
  workspaceId: string;
  name: string;
}): Promise<string> {
  for (const [key, value] of Object.entries(parts)) {
    // An empty part would fold unrelated events onto one id and Inngest would silently drop them.
    if (value === '') throw new TypeError(`eventId: ${key} must not be empty`);
  }
  // Encoding keeps ':' out of every part, so the joined form cannot be split two ways
  // ("a:b" + "c" vs "a" + "b:c"); '=' is encoded too, which keeps the hashed form
  // below from ever equalling a readable one.
  const name = encodeURIComponent(parts.name);
  const readable = `${name}:${encodeURIComponent(parts.source)}:${encodeURIComponent(parts.workspaceId)}`;
  if (readable.length <= MAX_READABLE_ID_LENGTH) return readable;

  const input = new TextEncoder().encode(JSON.stringify([parts.name, parts.source, parts.workspaceId]));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', input));
  let hex = '';
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0');
  return `${name}:sha256=${hex}`;
}
