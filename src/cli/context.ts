import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config, type EnvRecord } from '../shared/config.ts';
import { DATA_DIR, openLocalDatabase, type LocalDatabase } from './local-db.ts';

export interface VerbContext {
  env: EnvRecord;
  config: Config;
  out(text: string): void;
  err(text: string): void;
  /** The database; inside a running local stack, the stack's own (PGlite has one connection). */
  database(): Promise<LocalDatabase>;
  /** Closes the database if this context opened it. */
  close(): Promise<void>;
}

export type Verb = {
  usage: string;
  run(argv: string[], ctx: VerbContext): Promise<number>;
};

/** What a running `webhook-router start` leaves in .data/ so other verbs can find it. */
export interface StackFile {
  pid: number;
  url: string;
  /** False while the stack is still opening its database. */
  ready: boolean;
  devSecret: string | null;
  adminToken: string;
  database: 'postgres' | 'pglite';
}

export const STACK_FILE = join(DATA_DIR, 'stack.json');

export function readStackFile(): StackFile | null {
  if (!existsSync(STACK_FILE)) return null;
  try {
    const stack = JSON.parse(readFileSync(STACK_FILE, 'utf8')) as StackFile;
    process.kill(stack.pid, 0); // throws if that process is gone
    return stack;
  } catch {
    return null;
  }
}

/** The secret deliveries are signed with: the configured one, else the running stack's dev secret. */
/** The running stack once it serves requests; null when none runs (or it stopped booting). */
export async function waitForStack(timeoutMs = 60_000): Promise<StackFile | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stack = readStackFile();
    if (!stack || stack.ready) return stack;
    if (Date.now() > deadline) throw new Error(`the local stack (pid ${stack.pid}) did not become ready in time`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function signingSecret(ctx: VerbContext): string | null {
  return ctx.config.githubWebhookSecrets[0] ?? readStackFile()?.devSecret ?? null;
}

export function createContext(env: EnvRecord, out = (t: string) => process.stdout.write(`${t}\n`), err = (t: string) => process.stderr.write(`${t}\n`)): VerbContext {
  const config = loadConfig(env);
  let opened: Promise<LocalDatabase> | null = null;
  return {
    env,
    config,
    out,
    err,
    database() {
      // PGlite is migrated on open (in-process, instant); real Postgres by `migrate` or `start`.
      opened ??= openLocalDatabase(config).then(async (db) => {
        if (db.kind === 'pglite') await db.migrate();
        return db;
      });
      return opened;
    },
    async close() {
      if (opened) await (await opened).close();
    },
  };
}
