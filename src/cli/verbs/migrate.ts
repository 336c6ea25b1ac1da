import { loadConfig } from '../../shared/config.ts';
import { redactCredentials } from '../../shared/db/redact.ts';
import { ConfigError, errorMessage } from '../../shared/errors.ts';
import { parseVerbArgs, UsageError } from '../args.ts';
import type { Verb } from '../context.ts';
import { openLocalDatabase, type LocalDatabase } from '../local-db.ts';

/** --database-url, validated as DATABASE_URL is, but reported as the flag. */
async function openGiven(url: string): Promise<LocalDatabase> {
  try {
    return await openLocalDatabase(loadConfig({ DATABASE_URL: url }));
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`--database-url ${error.message.replace(/^DATABASE_URL: /, '')}`);
    throw error;
  }
}

export const migrate: Verb = {
  usage: `webhook-router migrate [--database-url URL]

Applies supabase/migrations in order to --database-url, else DATABASE_URL, else the embedded PGlite
database under .data/, and records each in webhook_router.migrations (version, name, checksum,
applied_at): a second run applies nothing, a concurrent one waits for the first. It never writes
the Supabase CLI's history, so it works next to an app whose \`supabase db push\` history differs.
Prefer DATABASE_URL to --database-url: a flag is visible to other users in \`ps\`.`,
  async run(argv, ctx) {
    const { values } = parseVerbArgs(argv, { 'database-url': { type: 'string' } });
    const given = values['database-url'];
    const database = given !== undefined ? await openGiven(given) : await ctx.database();
    try {
      // PGlite was migrated when the CLI opened it; say what that did rather than "up to date".
      const output =
        database.migratedOnOpen ?? (await database.migrate({ onWait: () => ctx.err('another migrate is running on this database; waiting for it to finish') }));
      delete database.migratedOnOpen;
      ctx.out(`${database.description}: ${output}`);
      return 0;
    } catch (error) {
      throw new Error(redactCredentials(errorMessage(error), [given, ctx.env.DATABASE_URL]), { cause: error });
    } finally {
      if (given !== undefined) await database.close();
    }
  },
};
