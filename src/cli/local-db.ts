import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import type { Config, EnvRecord } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Database } from '../shared/db/port.ts';
import { createSqlDatabase, type QueryFn } from '../shared/db/sql.ts';
import { preparesStatements } from '../shared/db/postgres.ts';
import { redactUrl } from '../shared/db/redact.ts';
import { postgresSsl, type PostgresSsl } from '../shared/db/tls.ts';
import { migratePglite, migratePostgres, PROJECT_ROOT } from '../node/migrations.ts';
import { describeMigration } from '../node/migrator.ts';

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
  /** One line: what was applied, or that the database is up to date. `onWait`: another run holds the lock. */
  migrate(options?: { onWait?: () => void }): Promise<string>;
  /** What migrate() said when the CLI migrated the database on opening it (PGlite). */
  migratedOnOpen?: string;
  close(): Promise<void>;
}

/** Closing twice (the stack on stop, then the CLI's context) closes once. */
function once(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => (closing ??= close());
}

/** DATABASE_URL when set; otherwise an embedded PGlite database under the data dir (kept between runs). */
export async function openLocalDatabase(config: Config, dir = dataDir(process.env)): Promise<LocalDatabase> {
  if (config.database.kind === 'postgres') {
    const url = config.database.url;
    let ssl: PostgresSsl;
    try {
      ssl = postgresSsl(url);
    } catch (error) {
      throw new ConfigError('DATABASE_URL', (error as Error).message);
    }
    const prepare = preparesStatements(url);
    const sql = postgres(url, {
      ssl,
      max: 8,
      connect_timeout: 5,
      onnotice: () => {},
      prepare,
      // As in the deployed adapter (src/shared/db/postgres.ts): short statements, quick reconnects.
      connection: { statement_timeout: 10_000 },
      backoff: (attempts: number) => Math.min(0.1 * attempts, 1),
    });
    const query: QueryFn = async (text, params) => [...(await sql.unsafe(text, params as never[], { prepare }))];
    return {
      kind: 'postgres',
      description: `PostgreSQL ${redactUrl(url)}`,
      db: createSqlDatabase(query),
      query,
      migrate: async (options) => describeMigration(await migratePostgres(url, options)),
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
    migrate: async () => describeMigration(await migratePglite(pg)),
    close: once(() => pg.close()),
  };
}
