import type { Config } from '../config.ts';
import type { Database } from '../db/port.ts';

const DAY_MS = 86_400_000;
export const PRUNE_BATCH_SIZE = 1_000;

export interface PruneCutoffs {
  completedBefore: Date;
  failedBefore: Date;
}

export function pruneCutoffs(retention: Config['drain']['retention'], nowMs: number): PruneCutoffs {
  return {
    completedBefore: new Date(nowMs - retention.completedDays * DAY_MS),
    failedBefore: new Date(nowMs - retention.failedDays * DAY_MS),
  };
}

/** One batch per table; returns rows removed (or, dry, that would be) by table. */
export async function pruneBatch(
  db: Database,
  cutoffs: PruneCutoffs,
  options: { batchSize?: number; dryRun?: boolean } = {},
): Promise<Record<string, number>> {
  const rows = await db.call<{ what: string; rows: string | number }>('prune_webhook_data', {
    p_completed_before: cutoffs.completedBefore.toISOString(),
    p_failed_before: cutoffs.failedBefore.toISOString(),
    p_batch_size: options.batchSize ?? PRUNE_BATCH_SIZE,
    p_dry_run: options.dryRun ?? false,
  });
  return Object.fromEntries(rows.map((r) => [r.what, Number(r.rows)]));
}

/**
 * The sweep's retention: small batches (short transactions beside the live queue) until a batch
 * finds nothing more or `budgetMs` is spent. Returns the rows removed.
 */
export async function pruneOldRows(
  db: Database,
  retention: Config['drain']['retention'],
  budgetMs: number,
  now: () => number = () => Date.now(),
): Promise<number> {
  const stopAt = now() + budgetMs;
  const cutoffs = pruneCutoffs(retention, now());
  let total = 0;
  while (now() < stopAt) {
    const removed = Object.values(await pruneBatch(db, cutoffs));
    total += removed.reduce((a, b) => a + b, 0);
    if (removed.every((n) => n < PRUNE_BATCH_SIZE)) break;
  }
  return total;
}
