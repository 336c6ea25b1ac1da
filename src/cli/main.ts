import type { EnvRecord } from '../shared/config.ts';
import { ConfigError, errorMessage } from '../shared/errors.ts';
import { UsageError } from './args.ts';
import { createContext, waitForStack, type StackFile, type Verb, type VerbContext } from './context.ts';
import type { LocalDatabase } from './local-db.ts';
import { drainVerb } from './verbs/drain.ts';
import { migrate } from './verbs/migrate.ts';
import { redeliver } from './verbs/redeliver.ts';
import { replay } from './verbs/replay.ts';
import { seed } from './verbs/seed.ts';
import { send } from './verbs/send.ts';
import { start } from './verbs/start.ts';
import { stats } from './verbs/stats.ts';

export const VERBS: Record<string, Verb> = { start, migrate, seed, send, drain: drainVerb, stats, replay, redeliver };

/**
 * Verbs that use the database go through a running local stack when no DATABASE_URL is set: a
 * PGlite stack holds its database's only connection, and a Postgres stack knows its DATABASE_URL.
 */
export const FORWARDED: ReadonlySet<string> = new Set(['migrate', 'seed', 'drain', 'stats', 'replay', 'redeliver']);

/** What a forwarded verb takes from the caller's environment; the rest is the stack's. */
const CALLER_ENV = ['GITHUB_TOKEN', 'GITHUB_API_URL', 'GITHUB_HOOK_REPO', 'GITHUB_HOOK_ORG', 'GITHUB_HOOK_ID'] as const;

function callerEnv(env: EnvRecord): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of CALLER_ENV) {
    const value = env[name];
    if (typeof value === 'string' && value !== '') picked[name] = value;
  }
  return picked;
}

const USAGE = `webhook-router <verb> [flags]   (webhook-router <verb> --help)

  start       run the local stack (receivers, drain, database) on one port
  migrate     apply the migrations (Supabase CLI for Postgres, loader for PGlite)
  seed        create a repository tracked by N workspaces
  send        sign and POST a GitHub delivery (real example payloads)
  drain       run the drain from Node against the database
  stats       job and delivery statistics
  replay      put failed jobs back in the queue, or re-run a delivery's job
  redeliver   ask GitHub to redeliver failed or missing deliveries`;

async function runVerb(argv: string[], ctx: VerbContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    ctx.out(USAGE);
    return 0;
  }
  if (!name) {
    ctx.err('error: no verb given');
    ctx.err(USAGE);
    return 2;
  }
  const verb = VERBS[name];
  if (!verb) {
    ctx.err(`error: unknown verb "${name}"`);
    ctx.err(USAGE);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    ctx.out(verb.usage);
    return 0;
  }
  try {
    return await verb.run(rest, ctx);
  } catch (error) {
    if (error instanceof UsageError) {
      ctx.err(`error: ${error.message}`);
      ctx.err(`usage: ${verb.usage}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      ctx.err(`error: ${error.message}`);
      ctx.err(`usage: ${verb.usage}`);
      return 2;
    }
    ctx.err(`error: ${errorMessage(error)}`);
    return 1;
  }
}

/**
 * Inside the running stack: run a forwarded verb against the stack's database, capturing output.
 * Only the forwarded verbs run here (never a second `start`); `env` is the caller's CALLER_ENV.
 */
export async function runVerbInStack(
  argv: string[],
  stackCtx: VerbContext,
  env: EnvRecord = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [name] = argv;
  if (!name || !FORWARDED.has(name)) {
    return { code: 2, stdout: '', stderr: `error: "${name ?? ''}" does not run inside the local stack\n` };
  }
  let stdout = '';
  let stderr = '';
  const ctx: VerbContext = {
    ...stackCtx,
    env: { ...stackCtx.env, ...callerEnv(env) },
    out: (t) => void (stdout += `${t}\n`),
    err: (t) => void (stderr += `${t}\n`),
  };
  const code = await runVerb(argv, ctx);
  return { code, stdout, stderr };
}

export interface MainOptions {
  /** Run against this database (already migrated) instead of DATABASE_URL, PGlite or a stack; left open. */
  database?: LocalDatabase;
}

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
  const forwardable =
    !options.database && ctx.config.database.kind === 'none' && name !== undefined && FORWARDED.has(name) && !wantsHelp;
  let stack: StackFile | null = null;
  try {
    if (forwardable || (name === 'send' && !wantsHelp)) stack = await waitForStack(env);
  } catch (error) {
    process.stderr.write(`error: ${errorMessage(error)}\n`);
    return 1;
  }
  if (forwardable && stack) {
    let result: { code: number; stdout: string; stderr: string };
    try {
      const response = await fetch(`${stack.url}/_local/cli`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ argv, env: callerEnv(env) }),
      });
      if (!response.ok) throw new Error(`it answered ${response.status} ${await response.text()}`);
      result = (await response.json()) as typeof result;
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
  const code = await runVerb(argv, ctx);
  await ctx.close().catch(() => {});
  return code;
}
