import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { postgresSsl } from '../shared/db/tls.ts';
import { applyMigrations, readMigrations, type MigrationReport, type MigrationSession } from './migrator.ts';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'supabase/migrations');

/** Migration file names in the order Supabase applies them (by timestamp prefix). */
export async function migrationFiles(dir = MIGRATIONS_DIR): Promise<string[]> {
  return (await readMigrations(dir)).map((m) => m.file);
}

function postgresSession(sql: postgres.Sql): MigrationSession {
  return {
    query: async <T>(text: string, params: unknown[] = []) => [...(await sql.unsafe(text, params as never[]))] as T[],
    transaction: async (work) => {
      await sql.begin(async (tx) => {
        await work({
          exec: async (text) => void (await tx.unsafe(text)),
          query: (text, params = []) => tx.unsafe(text, params as never[]),
        });
      });
    },
  };
}

function pgliteSession(pg: PGlite): MigrationSession {
  return {
    query: async <T>(text: string, params?: unknown[]) => (await pg.query<T>(text, params)).rows,
    transaction: async (work) => {
      await pg.transaction(async (tx) => {
        await work({ exec: async (text) => void (await tx.exec(text)), query: (text, params) => tx.query(text, params) });
      });
    },
  };
}

/**
 * Real Postgres, one connection (the advisory lock is per session). No statement timeout: a
 * migration may take a while, and a second `migrate` waits for the first on the lock.
 */
export async function migratePostgres(databaseUrl: string, options: { dir?: string; onWait?: () => void } = {}): Promise<MigrationReport> {
  const sql = postgres(databaseUrl, { ssl: postgresSsl(databaseUrl), max: 1, connect_timeout: 10, onnotice: () => {}, prepare: false });
  try {
    return await applyMigrations(postgresSession(sql), await readMigrations(options.dir ?? MIGRATIONS_DIR), options.onWait);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** PGlite: the same migrator and record, in-process (the Supabase CLI cannot reach it). */
export async function migratePglite(pg: PGlite, dir = MIGRATIONS_DIR): Promise<MigrationReport> {
  return applyMigrations(pgliteSession(pg), await readMigrations(dir));
}
