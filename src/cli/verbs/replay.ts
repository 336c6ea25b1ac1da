import { parseDuration, parseVerbArgs, UsageError } from '../args.ts';
import type { Verb } from '../context.ts';
import { formatTable } from '../table.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const replay: Verb = {
  usage: `webhook-router replay --job ID | --delivery GUID | --failed [--since 1h] [--dry-run]

--job ID          put one failed job back in the queue with a fresh retry budget
--failed          put every failed job back (only those failed within --since, when given)
--delivery GUID   re-run the job of a recorded delivery, whatever its final state (its effects
                  are idempotent); a delivery handled inline has no stored payload: use redeliver
--dry-run         say what would be replayed, change nothing`,
  async run(argv, ctx) {
    const { values } = parseVerbArgs(argv, {
      job: { type: 'string' },
      delivery: { type: 'string' },
      failed: { type: 'boolean' },
      since: { type: 'string' },
      'dry-run': { type: 'boolean' },
    });
    const chosen = [values.job, values.delivery, values.failed].filter(Boolean).length;
    if (chosen !== 1) throw new UsageError('give exactly one of --job, --delivery or --failed');
    if (values.since && !values.failed) throw new UsageError('--since goes with --failed');
    if (values.job && !UUID.test(values.job)) throw new UsageError(`--job must be a job uuid, got "${values.job}"`);
    const dryRun = Boolean(values['dry-run']);
    const { db } = await ctx.database();
    const verb = dryRun ? 'would replay' : 'replayed';

    if (values.delivery) {
      const [row] = await db.call<Record<string, unknown>>('replay_webhook_delivery', { p_delivery_id: values.delivery, p_dry_run: dryRun });
      if (!row) {
        ctx.err(`error: delivery ${values.delivery} was never recorded; ask GitHub to redeliver it (webhook-router redeliver)`);
        return 1;
      }
      if (!row.job_id) {
        ctx.err(`error: delivery ${values.delivery} was handled ${row.route} and has no job to re-run; use webhook-router redeliver`);
        return 1;
      }
      if (!row.replayed && !(dryRun && ['completed', 'failed', 'cancelled'].includes(String(row.previous_status)))) {
        ctx.out(`delivery ${values.delivery}: job ${row.job_id} is ${row.previous_status}; nothing to replay`);
        return 0;
      }
      ctx.out(`${verb} delivery ${values.delivery}: job ${row.job_id} (was ${row.previous_status})`);
      return 0;
    }

    const rows = await db.call<Record<string, unknown>>('replay_webhook_jobs', {
      p_job_id: values.job,
      p_failed_since: values.since ? new Date(Date.now() - parseDuration(values.since, '--since')).toISOString() : undefined,
      p_all: Boolean(values.failed),
      p_dry_run: dryRun,
    });
    if (values.job && rows.length === 0) {
      ctx.err(`error: job ${values.job} is not a failed job`);
      return 1;
    }
    ctx.out(`${verb} ${rows.length} failed job(s)`);
    if (rows.length) ctx.out(formatTable(rows, ['id', 'type', 'failed_at', 'previous_error']));
    return 0;
  },
};
