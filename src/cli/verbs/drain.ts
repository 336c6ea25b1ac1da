import { randomUUID } from 'node:crypto';
import { drain } from '../../shared/drain/drain.ts';
import { senderFromConfig } from '../../shared/inngest/from-config.ts';
import { createRecordingSender } from '../../shared/inngest/sender.ts';
import { parseVerbArgs } from '../args.ts';
import type { Verb } from '../context.ts';

export const drainVerb: Verb = {
  usage: `webhook-router drain [--once] [--json]

Runs the drain from Node against the database: claims ready jobs, runs them, and prints a summary.
Without --once it keeps draining until the queue has nothing ready. Without INNGEST_EVENT_KEY the
events are printed instead of sent.`,
  async run(argv, ctx) {
    const { values } = parseVerbArgs(argv, { once: { type: 'boolean' }, json: { type: 'boolean' } });
    const database = await ctx.database();
    const recording = ctx.config.inngest.eventKey ? null : createRecordingSender();
    const sender = recording ?? senderFromConfig(ctx.config);
    const totals = { claimed: 0, completed: 0, retried: 0, failed: 0, deferred: 0, lost: 0, remaining: 0 };
    // What is ready now, then exit: no idling for new jobs, no waiting for scheduled ones.
    const settings = { ...ctx.config.drain, idleMs: 0, waitSeconds: 0 };
    for (;;) {
      const summary = await drain({ db: database.db, sender, settings, worker: `cli-${randomUUID()}` });
      for (const key of Object.keys(totals) as (keyof typeof totals)[]) {
        totals[key] = key === 'remaining' ? summary.remaining : totals[key] + summary[key];
      }
      if (values.once || summary.claimed === 0 || summary.remaining === 0) break;
    }
    if (values.json) ctx.out(JSON.stringify({ ...totals, eventsRecorded: recording?.sent.length ?? null }));
    else {
      ctx.out(Object.entries(totals).map(([k, v]) => `${k}: ${v}`).join('  '));
      for (const event of recording?.sent ?? []) ctx.out(`event ${event.name} ${event.id}`);
    }
    return 0;
  },
};
