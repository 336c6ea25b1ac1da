import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PGlite } from '@electric-sql/pglite';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'supabase/migrations');

/** Migration files in the order Supabase applies them (by timestamp prefix). */
export async function migrationFiles(dir = MIGRATIONS_DIR): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
}

/**
 * Real Postgres: the real Supabase CLI applies the migrations and records them in
 * supabase_migrations.schema_migrations, exactly as `supabase db push` would.
 */
export async function migratePostgres(databaseUrl: string): Promise<string> {
  const url = new URL(databaseUrl);
  if (!url.searchParams.has('sslmode')) url.searchParams.set('sslmode', 'disable');
  const cli = join(dirname(createRequire(import.meta.url).resolve('supabase/package.json')), 'dist', 'supabase.js');
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    [cli, 'migration', 'up', '--db-url', url.toString(), '--workdir', PROJECT_ROOT],
    { timeout: 120_000, env: { ...process.env, DO_NOT_TRACK: '1', SUPABASE_TELEMETRY_DISABLED: '1' } },
  );
  // The CLI reports progress on stderr and its verdict on stdout: keep them in that order.
  return `${stderr}${stdout}`;
}

/**
 * PGlite: the Supabase CLI cannot reach an in-process database, so a small loader applies the
 * same files in the same order, remembering them in the same table the CLI uses.
 */
export async function migratePglite(db: PGlite, dir = MIGRATIONS_DIR): Promise<string[]> {
  await db.exec(`
    create schema if not exists supabase_migrations;
    create table if not exists supabase_migrations.schema_migrations (
      version text primary key, statements text[], name text);
  `);
  const done = new Set(
    (await db.query<{ version: string }>('select version from supabase_migrations.schema_migrations')).rows.map(
      (r) => r.version,
    ),
  );
  const applied: string[] = [];
  for (const file of await migrationFiles(dir)) {
    const [version, ...rest] = file.replace(/\.sql$/, '').split('_');
    if (!version || done.has(version)) continue;
    const sql = await readFile(join(dir, file), 'utf8');
    await db.transaction(async (tx) => {
      await tx.exec(sql);
      await tx.query('insert into supabase_migrations.schema_migrations (version, name) values ($1, $2)', [
        version,
        rest.join('_'),
      ]);
    });
    applied.push(file);
  }
  return applied;
}
