import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { inject } from 'vitest';
import type { Database } from '../../src/shared/db/port.ts';
import { createSqlDatabase, type QueryFn } from '../../src/shared/db/sql.ts';
import { migratePglite } from '../../src/node/migrations.ts';
import { adminUrl, withDatabase } from './pg-urls.ts';

export interface TestDatabase {
  kind: 'postgres' | 'pglite';
  db: Database;
  /** Direct SQL for setting up and asserting (superuser). */
  query: QueryFn;
  /** Connection URL (real Postgres only). */
  url: string | null;
  close(): Promise<void>;
}

export const onPostgres = Boolean(process.env.DATABASE_URL);
/** Why multi-connection tests are skipped on PGlite (printed once per file that skips). */
export const PGLITE_SKIP_REASON = 'needs several connections; PGlite has one (set DATABASE_URL to run it)';

export function reportSkip(what: string, reason = PGLITE_SKIP_REASON): void {
  if (!onPostgres) console.warn(`[skip] ${what}: ${reason}`);
}

/** A database of its own for one test file: a clone of the migrated template, or a fresh PGlite. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = process.env.DATABASE_URL;
  if (!base) return createPgliteDatabase();

  const name = `wr_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(adminUrl(base), { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name} template ${inject('templateDatabase')}`);
  await admin.end();
  const url = withDatabase(base, name);
  const sql = postgres(url, { max: 10, onnotice: () => {}, prepare: false });
  const query: QueryFn = async (text, params) => [...(await sql.unsafe(text, params as never[]))];
  return {
    kind: 'postgres',
    db: createSqlDatabase(query),
    query,
    url,
    async close() {
      await sql.end({ timeout: 5 });
      const dropper = postgres(adminUrl(base), { max: 1, onnotice: () => {} });
      await dropper.unsafe(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}

async function createPgliteDatabase(): Promise<TestDatabase> {
  const pg = new PGlite();
  await migratePglite(pg);
  const query: QueryFn = async (text, params) => (await pg.query<Record<string, unknown>>(text, params)).rows;
  return { kind: 'pglite', db: createSqlDatabase(query), query, url: null, close: () => pg.close() };
}

/** An empty database of its own on the real server (no migrations), dropped by close(). */
export async function createEmptyDatabase(prefix = 'wr_empty'): Promise<{ url: string; query: QueryFn; close(): Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('createEmptyDatabase needs DATABASE_URL');
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(adminUrl(base), { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = withDatabase(base, name);
  const sql = postgres(url, { max: 4, onnotice: () => {}, prepare: false });
  return {
    url,
    query: async (text, params) => [...(await sql.unsafe(text, params as never[]))],
    async close() {
      await sql.end({ timeout: 5 });
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
