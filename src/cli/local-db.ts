import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import type { Config } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Database } from '../shared/db/port.ts';
import { createSqlDatabase, type QueryFn } from '../shared/db/sql.ts';
import { migratePglite, migratePostgres, PROJECT_ROOT } from '../node/migrations.ts';

export const DATA_DIR = process.env.WEBHOOK_ROUTER_DATA_DIR ?? join(process.cwd(), '.data');

export interface LocalDatabase {
  kind: 'postgres' | 'pglite';
  /** For the banner and logs; never includes a password. */
  description: string;
  db: Database;
  query: QueryFn;
  migrate(): Promise<string>;
  close(): Promise<void>;
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** DATABASE_URL when set; otherwise an embedded PGlite database under .data/ (kept between runs). */
export async function openLocalDatabase(config: Config): Promise<LocalDatabase> {
  if (config.database.kind === 'postgres') {
    const url = config.database.url;
    const sql = postgres(url, { max: 8, connect_timeout: 5, onnotice: () => {}, prepare: false });
    const query: QueryFn = async (text, params) => [...(await sql.unsafe(text, params as never[]))];
    return {
      kind: 'postgres',
      description: `PostgreSQL ${redact(url)}`,
      db: createSqlDatabase(query),
      query,
      migrate: () => migratePostgres(url),
      close: () => sql.end({ timeout: 5 }),
    };
  }
  if (config.database.kind === 'rpc') {
    throw new ConfigError(
      'DATABASE_URL',
      'the CLI and the local stack talk to Postgres directly; set DATABASE_URL (VITE_SUPABASE_URL is for the Netlify functions)',
    );
  }
  const dir = join(DATA_DIR, 'pglite');
  mkdirSync(dir, { recursive: true });
  const pg = await PGlite.create(dir);
  const query: QueryFn = async (text, params) => (await pg.query<Record<string, unknown>>(text, params)).rows;
  return {
    kind: 'pglite',
    description: `PGlite (embedded) in ${dir.startsWith(PROJECT_ROOT) ? dir.slice(PROJECT_ROOT.length + 1) : dir}`,
    db: createSqlDatabase(query),
    query,
    migrate: async () => {
      const applied = await migratePglite(pg);
      return applied.length ? `applied ${applied.join(', ')}` : 'database is up to date';
    },
    close: () => pg.close(),
  };
}
