import postgres from 'postgres';
import { migratePostgres } from '../../src/node/migrations.ts';
import type { QueryFn } from '../../src/shared/db/sql.ts';

export const DEFAULT_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The Postgres server the benchmarks use: DATABASE_URL if set, else the local default. */
export function serverUrl(): string {
  return process.env.DATABASE_URL || DEFAULT_SERVER_URL;
}

export function databaseUrl(name: string, base = serverUrl()): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

let sequence = 0;

/** `bench_<name>_<pid>`, with a counter when one process creates several. */
export function benchDatabaseName(bench: string): string {
  sequence += 1;
  return `bench_${bench}_${process.pid}${sequence > 1 ? `_${sequence}` : ''}`;
}

export interface BenchDatabase {
  name: string;
  url: string;
  /** Superuser SQL on the benchmark database (one small pool). */
  query: QueryFn;
  sql: postgres.Sql;
  drop(): Promise<void>;
}

async function admin<T>(work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(serverUrl(), { max: 1, onnotice: () => {} });
  try {
    return await work(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * A database of the benchmark's own on the server (never a test database): created empty (or
 * from `template`), migrated with the real Supabase CLI unless `migrate` is false, and dropped by
 * `drop()`.
 */
export async function createBenchDatabase(
  bench: string,
  options: { migrate?: boolean; template?: string; name?: string } = {},
): Promise<BenchDatabase> {
  const name = options.name ?? benchDatabaseName(bench);
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad database name ${name}`);
  await admin(async (sql) => {
    await sql.unsafe(`drop database if exists ${name} with (force)`);
    await sql.unsafe(`create database ${name}${options.template ? ` template ${options.template}` : ''}`);
  });
  const url = databaseUrl(name);
  try {
    if (options.migrate ?? !options.template) await migratePostgres(url);
  } catch (error) {
    await dropDatabase(name);
    throw error;
  }
  const sql = postgres(url, { max: 2, onnotice: () => {}, prepare: false });
  const query: QueryFn = async (text, params) => [...(await sql.unsafe(text, params as never[]))];
  let dropped = false;
  return {
    name,
    url,
    query,
    sql,
    async drop() {
      if (dropped) return;
      dropped = true;
      await sql.end({ timeout: 5 });
      await dropDatabase(name);
    },
  };
}

/**
 * Drops the database, after giving clients that are closing (pg-boss and graphile-worker end their
 * pools in the background) up to `graceMs` to go: a connection ended by the forced drop is an
 * 'error' event on a pool nobody listens to any more, which would end the benchmark process.
 */
export async function dropDatabase(name: string, graceMs = 3_000): Promise<void> {
  await admin(async (sql) => {
    const until = performance.now() + graceMs;
    while (performance.now() < until) {
      const [row] = await sql.unsafe('select count(*)::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
      if (Number(row?.n) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await sql.unsafe(`drop database if exists ${name} with (force)`);
  });
}

/** Server facts for the report. */
export async function serverVersion(): Promise<string> {
  return admin(async (sql) => String((await sql.unsafe('show server_version'))[0]?.server_version));
}
