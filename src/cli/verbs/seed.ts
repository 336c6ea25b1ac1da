import { seedRepository } from '../../node/seed.ts';
import { parsePositiveInt, parseRepo, parseVerbArgs, UsageError } from '../args.ts';
import type { Verb } from '../context.ts';

export const seed: Verb = {
  usage: `webhook-router seed --repo owner/name --workspaces N [--github-id ID] [--inactive N]

Creates (or extends) a repository tracked by N active workspaces in the host-app tables.`,
  async run(argv, ctx) {
    const { values } = parseVerbArgs(argv, {
      repo: { type: 'string' },
      workspaces: { type: 'string' },
      'github-id': { type: 'string' },
      inactive: { type: 'string' },
    });
    if (!values.repo) throw new UsageError('--repo is required');
    if (!values.workspaces) throw new UsageError('--workspaces is required');
    const repo = parseRepo(values.repo);
    const workspaces = parsePositiveInt(values.workspaces, '--workspaces');
    const githubId = values['github-id'] ? parsePositiveInt(values['github-id'], '--github-id') : stableGithubId(repo.fullName);
    if (values.inactive !== undefined && !/^\d+$/.test(values.inactive)) {
      throw new UsageError(`--inactive must be a whole number, got "${values.inactive}"`);
    }
    const inactive = values.inactive !== undefined ? Number(values.inactive) : 0;
    const database = await ctx.database();
    const seeded = await seedRepository(database.query, { fullName: repo.fullName, githubId, workspaces, inactiveWorkspaces: inactive });
    ctx.out(`seeded ${repo.fullName} (github id ${githubId}) in ${seeded.workspaceIds.length} active workspaces`);
    return 0;
  },
};

/** The id `send` puts in payloads for this repository, so seed and send agree without flags. */
export function stableGithubId(fullName: string): number {
  let hash = 7;
  for (const ch of fullName.toLowerCase()) hash = (hash * 31 + ch.charCodeAt(0)) % 2_000_000_000;
  return hash + 1;
}
