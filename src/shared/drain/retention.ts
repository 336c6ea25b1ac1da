import type { Config } from '../config.ts';
import type { Database } from '../db/port.ts';

export const PRUNE_BATCH_SIZE = 1_000;

type Retention = Config['drain']['retention'];

/**
 * One batch per table; returns rows removed (or, dry, that would be) by table. The cut-offs are
 * computed by the database from the ages, on its own clock.
 */
export async function pruneBatch(
  db: Database,
  retention: Retention,
  options: { batchSize?: number; dryRun?: boolean } = {},
): Promise<Record<string, number>> {
  const rows = await db.call<{ what: string; rows: string | number }>('prune_webhook_data', {
    p_completed_days: retention.completedDays,
    p_failed_days: retention.failedDays,
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
  retention: Retention,
  budgetMs: number,
  now: () => number = () => Date.now(),
): Promise<number> {
  const stopAt = now() + budgetMs;
  let total = 0;
  while (now() < stopAt) {
    const removed = Object.values(await pruneBatch(db, retention));
    total += removed.reduce((a, b) => a + b, 0);
    if (removed.every((n) => n < PRUNE_BATCH_SIZE)) break;
  }
  return total;
}
