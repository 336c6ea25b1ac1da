import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config, type EnvRecord } from '../shared/config.ts';
import { dataDir, openLocalDatabase, type LocalDatabase } from './local-db.ts';

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

/** What a running `webhook-router start` leaves in the data dir so other verbs can find it. */
export interface StackFile {
  pid: number;
  url: string;
  /** False while the stack is still opening its database. */
  ready: boolean;
  devSecret: string | null;
  adminToken: string;
  database: 'postgres' | 'pglite';
}

export function stackFilePath(env: EnvRecord): string {
  return join(dataDir(env), 'stack.json');
}

/** The stack described by the data dir's stack.json, if its process is still alive. */
export function readStackFile(env: EnvRecord): StackFile | null {
  const file = stackFilePath(env);
  if (!existsSync(file)) return null;
  try {
    const stack = JSON.parse(readFileSync(file, 'utf8')) as StackFile;
    process.kill(stack.pid, 0); // throws if that process is gone
    return stack;
  } catch {
    return null;
  }
}

/** The running stack once it serves requests; null when none runs (or it stopped booting). */
export async function waitForStack(env: EnvRecord, timeoutMs = 60_000): Promise<StackFile | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stack = readStackFile(env);
    if (!stack || stack.ready) return stack;
    if (Date.now() > deadline) throw new Error(`the local stack (pid ${stack.pid}) did not become ready in time`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The secret deliveries are signed with: the configured one, else the running stack's dev secret. */
export function signingSecret(ctx: VerbContext): string | null {
  return ctx.config.githubWebhookSecrets[0] ?? readStackFile(ctx.env)?.devSecret ?? null;
}

export interface ContextOptions {
  out?: (text: string) => void;
  err?: (text: string) => void;
  /** A database opened by the caller (tests, the running stack): used as is and never closed here. */
  database?: LocalDatabase;
}

export function createContext(env: EnvRecord, options: ContextOptions = {}): VerbContext {
  const config = loadConfig(env);
  let opened: Promise<LocalDatabase> | null = options.database ? Promise.resolve(options.database) : null;
  const owned = !options.database;
  return {
    env,
    config,
    out: options.out ?? ((t) => void process.stdout.write(`${t}\n`)),
    err: options.err ?? ((t) => void process.stderr.write(`${t}\n`)),
    database() {
      // PGlite is migrated on open (in-process, instant); real Postgres by `migrate` or `start`.
      opened ??= openLocalDatabase(config, dataDir(env)).then(async (db) => {
        if (db.kind === 'pglite') db.migratedOnOpen = await db.migrate();
        return db;
      });
      return opened;
    },
    async close() {
      if (opened && owned) await (await opened).close();
    },
  };
}
