import type { EnvRecord } from '../shared/config.ts';
import type { Verb, VerbContext } from './context.ts';
import { runVerb } from './dispatch.ts';
import { drainVerb } from './verbs/drain.ts';
import { migrate } from './verbs/migrate.ts';
import { prune } from './verbs/prune.ts';
import { redeliver } from './verbs/redeliver.ts';
import { replay } from './verbs/replay.ts';
import { seed } from './verbs/seed.ts';
import { stats } from './verbs/stats.ts';

/**
 * Verbs that use the database go through a running local stack when no DATABASE_URL is set: a
 * PGlite stack holds its database's only connection, and a Postgres stack knows its DATABASE_URL.
 */
export const FORWARDED_VERBS: Readonly<Record<string, Verb>> = { migrate, seed, drain: drainVerb, stats, replay, redeliver, prune };

/** What a forwarded verb takes from the caller's environment; the rest is the stack's. */
const CALLER_ENV = ['GITHUB_TOKEN', 'GITHUB_API_URL', 'GITHUB_HOOK_REPO', 'GITHUB_HOOK_ORG', 'GITHUB_HOOK_ID'] as const;

export function callerEnv(env: EnvRecord): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of CALLER_ENV) {
    const value = env[name];
    if (typeof value === 'string' && value !== '') picked[name] = value;
  }
  return picked;
}

export interface CapturedRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Inside the running stack: run a forwarded verb against the stack's database, capturing output.
 * Only the forwarded verbs run here (never a second `start`); `env` is the caller's CALLER_ENV.
 */
export async function runVerbInStack(argv: string[], stackCtx: VerbContext, env: EnvRecord = {}): Promise<CapturedRun> {
  const [name] = argv;
  if (!name || !Object.hasOwn(FORWARDED_VERBS, name)) {
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
  const code = await runVerb(FORWARDED_VERBS, FORWARDED_VERBS[name]?.usage ?? '', argv, ctx);
  return { code, stdout, stderr };
}
