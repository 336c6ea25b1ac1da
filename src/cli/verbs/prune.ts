import { pruneBatch, pruneCutoffs, PRUNE_BATCH_SIZE } from '../../shared/drain/retention.ts';
import { parseVerbArgs } from '../args.ts';
import type { Verb } from '../context.ts';

const TABLES = ['completed_jobs', 'failed_jobs', 'deliveries', 'duplicates'] as const;

export const prune: Verb = {
  usage: `webhook-router prune [--dry-run] [--json]

Deletes what retention no longer keeps, in batches of ${PRUNE_BATCH_SIZE} rows per table: completed jobs and
the deliveries and duplicates received before RETENTION_DAYS (14) ago, dead letters (failed jobs)
before FAILED_RETENTION_DAYS (30) ago. Delivery rows are the dedup key, so neither may be shorter than
GitHub's 3-day redelivery window. The drain's sweep prunes the same way after every run; this verb
does it now. --dry-run counts what would go and deletes nothing.`,
  async run(argv, ctx) {
    const { values } = parseVerbArgs(argv, { 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } });
    const dryRun = Boolean(values['dry-run']);
    const { db } = await ctx.database();
    const cutoffs = pruneCutoffs(ctx.config.drain.retention, Date.now());
    const totals: Record<string, number> = Object.fromEntries(TABLES.map((t) => [t, 0]));
    for (;;) {
      const batch = await pruneBatch(db, cutoffs, { dryRun });
      for (const table of TABLES) totals[table] = (totals[table] ?? 0) + (batch[table] ?? 0);
      // A dry run counts everything at once; a real one repeats until a batch comes back short.
      if (dryRun || TABLES.every((table) => (batch[table] ?? 0) < PRUNE_BATCH_SIZE)) break;
    }
    const result = {
      dryRun,
      completedBefore: cutoffs.completedBefore.toISOString(),
      failedBefore: cutoffs.failedBefore.toISOString(),
      ...totals,
    };
    if (values.json) ctx.out(JSON.stringify(result));
    else {
      ctx.out(`${dryRun ? 'would delete' : 'deleted'}: ${TABLES.map((t) => `${totals[t]} ${t.replace('_', ' ')}`).join(', ')}`);
      ctx.out(`(completed before ${result.completedBefore}, dead letters before ${result.failedBefore})`);
    }
    return 0;
  },
};
