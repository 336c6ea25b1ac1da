import { parseVerbArgs } from '../args.ts';
import type { Verb } from '../context.ts';

export const migrate: Verb = {
  usage: `webhook-router migrate

Applies supabase/migrations to DATABASE_URL with the real Supabase CLI (supabase migration up),
or to the embedded PGlite database under .data/ when DATABASE_URL is not set.`,
  async run(argv, ctx) {
    parseVerbArgs(argv, {});
    const database = await ctx.database();
    // PGlite was migrated when the CLI opened it; say what that did rather than "up to date".
    const output = database.migratedOnOpen ?? (await database.migrate());
    delete database.migratedOnOpen;
    ctx.out(`${database.description}: ${output}`);
    return 0;
  },
};
