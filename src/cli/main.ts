import { ConfigError } from '../shared/errors.ts';
import { UsageError } from './args.ts';
import { createContext, waitForStack, type Verb, type VerbContext } from './context.ts';
import { drainVerb } from './verbs/drain.ts';
import { migrate } from './verbs/migrate.ts';
import { redeliver } from './verbs/redeliver.ts';
import { replay } from './verbs/replay.ts';
import { seed } from './verbs/seed.ts';
import { send } from './verbs/send.ts';
import { start } from './verbs/start.ts';
import { stats } from './verbs/stats.ts';

export const VERBS: Record<string, Verb> = { start, migrate, seed, send, drain: drainVerb, stats, replay, redeliver };

/** Verbs that use the database go through a running PGlite stack, which holds its only connection. */
const FORWARDED = new Set(['migrate', 'seed', 'drain', 'stats', 'replay', 'redeliver']);

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
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    ctx.out(USAGE);
    return name ? 0 : 2;
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
      return 2;
    }
    ctx.err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/** Inside the running stack: run a forwarded verb against the stack's database, capturing output. */
export async function runVerbInStack(argv: string[], stackCtx: VerbContext): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const ctx: VerbContext = { ...stackCtx, out: (t) => void (stdout += `${t}\n`), err: (t) => void (stderr += `${t}\n`) };
  const code = await runVerb(argv, ctx);
  return { code, stdout, stderr };
}

export async function main(argv: string[], env = process.env): Promise<number> {
  let ctx: VerbContext;
  try {
    ctx = createContext(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`error: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const [name] = argv;
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  const forwardable = ctx.config.database.kind === 'none' && name !== undefined && FORWARDED.has(name) && !wantsHelp;
  const stack = forwardable || name === 'send' ? await waitForStack() : null;
  if (forwardable && stack?.database === 'pglite') {
    const response = await fetch(`${stack.url}/_local/cli`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ argv }),
    });
    const result = (await response.json()) as { code: number; stdout: string; stderr: string };
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    return result.code;
  }
  const code = await runVerb(argv, ctx);
  await ctx.close().catch(() => {});
  return code;
}
