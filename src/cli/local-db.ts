import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import type { Config, EnvRecord } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Database } from '../shared/db/port.ts';
import { createSqlDatabase, type QueryFn } from '../shared/db/sql.ts';
import { migratePglite, migratePostgres, PROJECT_ROOT } from '../node/migrations.ts';

/** Where the local stack keeps PGlite and stack.json: $WEBHOOK_ROUTER_DATA_DIR, else ./.data. */
export function dataDir(env: EnvRecord): string {
  const configured = env.WEBHOOK_ROUTER_DATA_DIR?.trim();
  return configured ? resolve(configured) : join(process.cwd(), '.data');
}

export interface LocalDatabase {
  kind: 'postgres' | 'pglite';
  /** For the banner and logs; never includes a password. */
  description: string;
  db: Database;
  query: QueryFn;
  /** One line: what was applied, or that the database is up to date. */
  migrate(): Promise<string>;
  /** What migrate() said when the CLI migrated the database on opening it (PGlite). */
  migratedOnOpen?: string;
  close(): Promise<void>;
}

/** Closing twice (the stack on stop, then the CLI's context) closes once. */
function once(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => (closing ??= close());
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/**
 * The Supabase CLI's output in one line, worded like the PGlite loader's: it prints "Local database
 * is up to date." on stdout even when stderr then lists the migrations it applies.
 */
export function summarizeMigration(output: string): string {
  const applied = [...output.matchAll(/^Applying migration (\S+?)\.*$/gm)].map((m) => m[1]);
  if (applied.length) return `applied ${applied.join(', ')}`;
  if (/up to date/i.test(output)) return 'database is up to date';
  return output.trim().split('\n').pop()?.trim() || 'migrated';
}

/** DATABASE_URL when set; otherwise an embedded PGlite database under the data dir (kept between runs). */
export async function openLocalDatabase(config: Config, dir = dataDir(process.env)): Promise<LocalDatabase> {
  if (config.database.kind === 'postgres') {
    const url = config.database.url;
    const sql = postgres(url, {
      max: 8,
      connect_timeout: 5,
      onnotice: () => {},
      prepare: false,
      // As in the deployed adapter (src/shared/db/postgres.ts): short statements, quick reconnects.
      connection: { statement_timeout: 10_000 },
      backoff: (attempts: number) => Math.min(0.1 * attempts, 1),
    });
    const query: QueryFn = async (text, params) => [...(await sql.unsafe(text, params as never[]))];
    return {
      kind: 'postgres',
      description: `PostgreSQL ${redact(url)}`,
      db: createSqlDatabase(query),
      query,
      migrate: async () => summarizeMigration(await migratePostgres(url)),
      close: once(() => sql.end({ timeout: 5 })),
    };
  }
  if (config.database.kind === 'rpc') {
    throw new ConfigError(
      'DATABASE_URL',
      'the CLI and the local stack talk to Postgres directly; set DATABASE_URL (VITE_SUPABASE_URL is for the Netlify functions)',
    );
  }
  const pgDir = join(dir, 'pglite');
  mkdirSync(pgDir, { recursive: true });
  const pg = await PGlite.create(pgDir);
  const query: QueryFn = async (text, params) => (await pg.query<Record<string, unknown>>(text, params)).rows;
  return {
    kind: 'pglite',
    description: `PGlite (embedded) in ${pgDir.startsWith(`${PROJECT_ROOT}/`) ? pgDir.slice(PROJECT_ROOT.length + 1) : pgDir}`,
    db: createSqlDatabase(query),
    query,
    migrate: async () => {
      const applied = await migratePglite(pg);
      return applied.length ? `applied ${applied.join(', ')}` : 'database is up to date';
    },
    close: once(() => pg.close()),
  };
}
