import type { EnvRecord } from '../shared/config.ts';
import { ConfigError, errorMessage } from '../shared/errors.ts';
import { createContext, type Verb, type VerbContext } from './context.ts';
import { runVerb } from './dispatch.ts';
import { callerEnv, FORWARDED_VERBS, type CapturedRun } from './forwarded.ts';
import type { LocalDatabase } from './local-db.ts';
import { LOCAL_CLI_PATH } from './stack/paths.ts';
import { waitForStack, type StackFile } from './stack/stack-file.ts';
import { send } from './verbs/send.ts';
import { start } from './verbs/start.ts';

export const VERBS: Readonly<Record<string, Verb>> = { start, ...FORWARDED_VERBS, send };

const USAGE = `webhook-router <verb> [flags]   (webhook-router <verb> --help)

  start       run the local stack (receivers, drain, database) on one port
  migrate     apply the migrations (Supabase CLI for Postgres, loader for PGlite)
  seed        create a repository tracked by N workspaces
  send        sign and POST a GitHub delivery (real example payloads)
  drain       run the drain from Node against the database
  stats       job and delivery statistics
  replay      put failed jobs back in the queue, or re-run a delivery's job
  redeliver   ask GitHub to redeliver failed or missing deliveries
  prune       delete what retention no longer keeps (--dry-run counts it)`;

export interface MainOptions {
  /** Run against this database (already migrated) instead of DATABASE_URL, PGlite or a stack; left open. */
  database?: LocalDatabase;
}

/** A forwarded verb, run by the local stack over HTTP with the stack's admin token. */
async function runInRunningStack(stack: StackFile, argv: string[], env: EnvRecord): Promise<CapturedRun> {
  const response = await fetch(`${stack.url}${LOCAL_CLI_PATH}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ argv, env: callerEnv(env) }),
  });
  if (!response.ok) throw new Error(`it answered ${response.status} ${await response.text()}`);
  return (await response.json()) as CapturedRun;
}

/** The CLI: `webhook-router <verb> …` (bin/webhook-router.mjs, `npm start`). Returns the exit code. */
export async function main(argv: string[], env: EnvRecord = process.env, options: MainOptions = {}): Promise<number> {
  let ctx: VerbContext;
  try {
    ctx = createContext(env, options.database ? { database: options.database } : {});
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`error: ${error.message}\n`);
      const verb = argv[0] ? VERBS[argv[0]] : undefined;
      process.stderr.write(`usage: ${verb?.usage ?? USAGE}\n`);
      return 2;
    }
    throw error;
  }
  const [name] = argv;
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  // A verb given its own database (migrate --database-url) runs here, not in the stack.
  const ownDatabase = argv.some((a) => a === '--database-url' || a.startsWith('--database-url='));
  const forwardable =
    !options.database &&
    ctx.config.database.kind === 'none' &&
    name !== undefined &&
    Object.hasOwn(FORWARDED_VERBS, name) &&
    !wantsHelp &&
    !ownDatabase;
  let stack: StackFile | null = null;
  try {
    if (forwardable || (name === 'send' && !wantsHelp)) stack = await waitForStack(env);
  } catch (error) {
    process.stderr.write(`error: ${errorMessage(error)}\n`);
    return 1;
  }
  if (forwardable && stack) {
    let result: CapturedRun;
    try {
      result = await runInRunningStack(stack, argv, env);
    } catch (error) {
      const cause = (error as Error).cause;
      const detail = cause ? `${errorMessage(error)} (${errorMessage(cause)})` : errorMessage(error);
      process.stderr.write(`error: could not run "${name}" in the local stack at ${stack.url} (pid ${stack.pid}): ${detail}\n`);
      return 1;
    }
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    return result.code;
  }
  const code = await runVerb(VERBS, USAGE, argv, ctx);
  await ctx.close().catch(() => {});
  return code;
}
