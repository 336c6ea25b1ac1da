import { DRAIN_PATH, HYBRID_PATH, SYNC_PATH } from './paths.ts';

export interface BannerFacts {
  base: string;
  intervalMs: number;
  database: string;
  migration: string;
  /** Where events go: Inngest's base URL (null for Inngest Cloud), or 'recorded' without a key. */
  inngest: { sendTo: string | null } | 'recorded';
  devSecret: string | null;
  /** The status page's lines (its link and token). */
  status: string[];
}

/** What `start` prints once it serves: its URLs, where data and events go, and what to try. */
export function banner(facts: BannerFacts): string {
  const { base } = facts;
  return [
    '',
    'webhook-router local stack',
    `  hybrid receiver   ${base}${HYBRID_PATH}`,
    `  original receiver ${base}${SYNC_PATH}`,
    `  drain             ${base}${DRAIN_PATH}  (every ${facts.intervalMs / 1000}s and on every kick)`,
    ...facts.status,
    `  database          ${facts.database} (${facts.migration})`,
    `  inngest           ${facts.inngest === 'recorded' ? 'no INNGEST_EVENT_KEY: events recorded locally and logged' : `sending to ${facts.inngest.sendTo ?? 'Inngest Cloud'}`}`,
    facts.devSecret ? `  webhook secret    generated for development: ${facts.devSecret}` : '  webhook secret    from GITHUB_WEBHOOK_SECRET',
    `  try it            npx webhook-router seed --repo acme/widgets --workspaces 12`,
    `                    npx webhook-router send push --repo acme/widgets`,
    '',
  ].join('\n');
}
