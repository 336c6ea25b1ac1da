import { Octokit } from '@octokit/core';
import { ConfigError } from '../../shared/errors.ts';
import { parseDuration, parsePositiveInt, parseRepo, parseVerbArgs, UsageError } from '../args.ts';
import type { Verb, VerbContext } from '../context.ts';
import { formatTable } from '../table.ts';

/** One attempt as GitHub lists it; redeliveries reuse the guid. */
interface HookDelivery {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  status: string;
  status_code: number;
  event: string;
  action: string | null;
}

function hookPath(ctx: VerbContext, values: Record<string, string | boolean | undefined>): string {
  const repo = (values.repo as string | undefined) ?? ctx.env.GITHUB_HOOK_REPO;
  const org = (values.org as string | undefined) ?? ctx.env.GITHUB_HOOK_ORG;
  const app = Boolean(values.app);
  const scopes = [repo, org, app || undefined].filter(Boolean).length;
  if (scopes !== 1) throw new UsageError('name exactly one hook: --repo owner/name, --org ORG or --app (or GITHUB_HOOK_REPO / GITHUB_HOOK_ORG)');
  if (app) return '/app/hook';
  const hookIdText = (values['hook-id'] as string | undefined) ?? ctx.env.GITHUB_HOOK_ID;
  if (!hookIdText) throw new UsageError('--hook-id (or GITHUB_HOOK_ID) is required for a repository or organisation hook');
  const hookId = parsePositiveInt(hookIdText, '--hook-id');
  if (repo) {
    const { owner, name } = parseRepo(repo);
    return `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/hooks/${hookId}`;
  }
  return `/orgs/${encodeURIComponent(org as string)}/hooks/${hookId}`;
}

function nextCursor(link: string | undefined): string | null {
  const next = link?.split(',').find((part) => /rel="next"/.test(part));
  const url = next ? /<([^>]+)>/.exec(next)?.[1] : undefined;
  return url ? new URL(url).searchParams.get('cursor') : null;
}

export const redeliver: Verb = {
  usage: `webhook-router redeliver --since 24h [--dry-run] (--repo owner/name --hook-id N | --org ORG --hook-id N | --app)

Reconciles with GitHub: lists the hook's deliveries since --since (GitHub keeps 3 days), finds the
GUIDs that GitHub marks failed and those this database never recorded, and asks GitHub to redeliver
each once (the same GUID comes back, so nothing is done twice). Needs GITHUB_TOKEN (a JWT for --app).
GITHUB_API_URL overrides https://api.github.com (GitHub Enterprise).`,
  async run(argv, ctx) {
    const { values } = parseVerbArgs(argv, {
      since: { type: 'string' },
      'dry-run': { type: 'boolean' },
      repo: { type: 'string' },
      org: { type: 'string' },
      app: { type: 'boolean' },
      'hook-id': { type: 'string' },
    });
    const sinceMs = parseDuration(values.since ?? '24h', '--since');
    const path = hookPath(ctx, values);
    const token = ctx.env.GITHUB_TOKEN;
    if (!token) throw new ConfigError('GITHUB_TOKEN', 'is not set; redeliver needs a token that may read and redeliver the hook\'s deliveries');
    const apiUrl = ctx.env.GITHUB_API_URL?.trim() || 'https://api.github.com';
    if (!/^https?:\/\/[^/\s]+/.test(apiUrl) || !URL.canParse(apiUrl)) {
      throw new ConfigError('GITHUB_API_URL', `must be an http:// or https:// URL, got "${apiUrl}"`);
    }
    const octokit = new Octokit({ auth: token, baseUrl: apiUrl.replace(/\/+$/, '') });
    const since = Date.now() - sinceMs;

    const attempts: HookDelivery[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page += 1) {
      const response = await octokit.request(`GET ${path}/deliveries`, { per_page: 100, ...(cursor ? { cursor } : {}) });
      const batch = response.data as HookDelivery[];
      attempts.push(...batch.filter((d) => Date.parse(d.delivered_at) >= since));
      cursor = nextCursor(response.headers.link);
      // GitHub lists newest first: once a page reaches past the window, older pages are out too.
      if (!cursor || batch.some((d) => Date.parse(d.delivered_at) < since)) break;
    }

    const byGuid = new Map<string, HookDelivery[]>();
    for (const attempt of attempts) byGuid.set(attempt.guid, [...(byGuid.get(attempt.guid) ?? []), attempt]);
    const { db } = await ctx.database();
    const recorded = new Set(
      (await db.call<{ delivery_id: string }>('webhook_recorded_deliveries', { p_delivery_ids: [...byGuid.keys()] })).map(
        (r) => r.delivery_id,
      ),
    );

    const chosen: { guid: string; id: number; event: string; reason: string }[] = [];
    for (const [guid, list] of byGuid) {
      const succeeded = list.some((a) => a.status_code >= 200 && a.status_code < 300);
      const latest = list.reduce((a, b) => (Date.parse(b.delivered_at) > Date.parse(a.delivered_at) ? b : a));
      const reason = !succeeded ? `GitHub marks it failed (${latest.status_code || latest.status})` : !recorded.has(guid) ? 'never recorded here' : null;
      if (reason) chosen.push({ guid, id: latest.id, event: latest.event, reason });
    }

    ctx.out(`${byGuid.size} deliveries since ${new Date(since).toISOString()}; ${chosen.length} to redeliver`);
    if (chosen.length) ctx.out(formatTable(chosen, ['guid', 'event', 'reason']));
    if (values['dry-run'] || chosen.length === 0) return 0;

    let failures = 0;
    for (const delivery of chosen) {
      try {
        await octokit.request(`POST ${path}/deliveries/${delivery.id}/attempts`);
        ctx.out(`redelivery requested: ${delivery.guid}`);
      } catch (error) {
        failures += 1;
        ctx.err(`error: redelivery of ${delivery.guid} failed: ${(error as Error).message}`);
      }
    }
    return failures > 0 ? 1 : 0;
  },
};
