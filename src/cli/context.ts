import { loadConfig, type Config, type EnvRecord } from '../shared/config.ts';
import type { OutgoingEvent } from '../shared/inngest/events.ts';
import { dataDir, openLocalDatabase, type LocalDatabase } from './local-db.ts';
import { LOCAL_EVENTS_PATH } from './stack/paths.ts';
import { readStackFile } from './stack/stack-file.ts';

export interface VerbContext {
  env: EnvRecord;
  config: Config;
  out(text: string): void;
  err(text: string): void;
  /** The database; inside a running local stack, the stack's own (PGlite has one connection). */
  database(): Promise<LocalDatabase>;
  /** Closes the database if this context opened it. */
  close(): Promise<void>;
  /**
   * The Inngest events the running local stack recorded because it has no INNGEST_EVENT_KEY;
   * null when no stack runs from the data dir, or when it sends them to Inngest.
   */
  recordedEvents(): Promise<OutgoingEvent[] | null>;
}

export type Verb = {
  usage: string;
  run(argv: string[], ctx: VerbContext): Promise<number>;
};

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
    async recordedEvents() {
      const stack = readStackFile(env);
      if (!stack?.ready) return null;
      const response = await fetch(`${stack.url}${LOCAL_EVENTS_PATH}`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
      if (!response.ok) throw new Error(`the local stack at ${stack.url} answered ${response.status} for its recorded events`);
      return ((await response.json()) as { events: OutgoingEvent[] | null }).events;
    },
  };
}
