import { redactCredentials } from '../shared/db/redact.ts';
import { ConfigError, errorMessage } from '../shared/errors.ts';
import { UsageError } from './args.ts';
import type { Verb, VerbContext } from './context.ts';

/**
 * Runs one verb and turns what it throws into the CLI's exit codes: a bad flag or variable is one
 * `error:` line naming it plus the verb's usage (exit 2), anything else one `error:` line (exit 1).
 */
export async function runVerb(verbs: Readonly<Record<string, Verb>>, usage: string, argv: string[], ctx: VerbContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    ctx.out(usage);
    return 0;
  }
  if (!name) {
    ctx.err('error: no verb given');
    ctx.err(usage);
    return 2;
  }
  const verb = verbs[name];
  if (!verb) {
    ctx.err(`error: unknown verb "${name}"`);
    ctx.err(usage);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    ctx.out(verb.usage);
    return 0;
  }
  try {
    return await verb.run(rest, ctx);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      ctx.err(`error: ${error.message}`);
      ctx.err(`usage: ${verb.usage}`);
      return 2;
    }
    // Driver and tool errors may quote a connection string: never print its password.
    ctx.err(`error: ${redactCredentials(errorMessage(error), [ctx.env.DATABASE_URL, ctx.env.SUPABASE_DB_URL])}`);
    return 1;
  }
}
