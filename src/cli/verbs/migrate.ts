import { parseVerbArgs } from '../args.ts';
import type { Verb } from '../context.ts';

export const migrate: Verb = {
  usage: `webhook-router migrate

Applies supabase/migrations to DATABASE_URL with the real Supabase CLI (supabase migration up),
or to the embedded PGlite database under .data/ when DATABASE_URL is not set.`,
  async run(argv, ctx) {
    parseVerbArgs(argv, {});
    const database = await ctx.database();
    const output = await database.migrate();
    ctx.out(`${database.description}: ${output.trim() || 'migrated'}`);
    return 0;
  },
};
