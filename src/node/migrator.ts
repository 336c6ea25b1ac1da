// Installs our schema the way graphile-worker and pg-boss install theirs: our own record of what
// ran (webhook_router.migrations), one advisory lock so concurrent runs apply each file once, and
// each file in its own transaction with its record. It never reads or writes the host app's
// supabase_migrations history beyond adopting our own versions from it (see adoptable), so it
// works next to an app whose `supabase db push` history has versions this repository lacks.
// Hand-written rather than a migration library: those drive `pg` only (this also drives PGlite
// and postgres.js), and postgres-migrations needs consecutive integer ids, not timestamps.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One connection: the lock, the reads and every migration's transaction run on it. */
export interface MigrationSession {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** A transaction on the same connection; `exec` runs a whole file (several statements). */
  transaction(work: (tx: { exec(sql: string): Promise<void>; query(text: string, params?: unknown[]): Promise<unknown> }) => Promise<void>): Promise<void>;
}

export interface MigrationFile {
  version: string;
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

export interface MigrationReport {
  /** Files applied by this run, in order. */
  applied: string[];
  /** Files the Supabase CLI had applied already: recorded here, not run again. */
  adopted: string[];
}

// Any constant works; derived from the table's name so it reads as ours in pg_locks.
const LOCK_SQL = `select pg_advisory_lock(hashtextextended('webhook_router.migrations', 0))`;
const TRY_LOCK_SQL = `select pg_try_advisory_lock(hashtextextended('webhook_router.migrations', 0)) as locked`;
const UNLOCK_SQL = `select pg_advisory_unlock(hashtextextended('webhook_router.migrations', 0))`;

const RECORD_TABLE = `
  create schema if not exists webhook_router;
  revoke all on schema webhook_router from public;
  create table if not exists webhook_router.migrations (
    version text primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now(),
    -- 'applied' by this migrator, or 'adopted' from the Supabase CLI's history.
    how text not null default 'applied'
  );`;

/** supabase/migrations/<version>_<name>.sql, in the order Supabase applies them (by version). */
export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(join(dir, file), 'utf8');
      const [version, ...rest] = file.replace(/\.sql$/, '').split('_');
      return { version: version as string, name: rest.join('_'), file, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Our versions the Supabase CLI recorded (same version and name) in a database where our table
 * is still empty: `supabase db push` or the old loader applied them, so they are not run twice.
 */
async function adoptable(session: MigrationSession, files: MigrationFile[]): Promise<MigrationFile[]> {
  const [history] = await session.query<{ present: boolean }>(`select to_regclass('supabase_migrations.schema_migrations') is not null as present`);
  if (!history?.present) return [];
  const rows = await session.query<{ version: string; name: string | null }>('select version, name from supabase_migrations.schema_migrations');
  const recorded = new Map(rows.map((r) => [r.version, r.name]));
  return files.filter((f) => recorded.has(f.version) && (recorded.get(f.version) ?? f.name) === f.name);
}

/** Applies what has not run yet; waits for a concurrent run (`onWait` is told) instead of racing it. */
export async function applyMigrations(session: MigrationSession, files: MigrationFile[], onWait: () => void = () => {}): Promise<MigrationReport> {
  const [attempt] = await session.query<{ locked: boolean }>(TRY_LOCK_SQL);
  if (!attempt?.locked) {
    onWait();
    await session.query(LOCK_SQL);
  }
  try {
    await session.transaction((tx) => tx.exec(RECORD_TABLE));
    const done = new Map(
      (await session.query<{ version: string; checksum: string }>('select version, checksum from webhook_router.migrations')).map((r) => [r.version, r.checksum]),
    );
    for (const file of files) {
      const checksum = done.get(file.version);
      if (checksum !== undefined && checksum !== file.checksum) {
        throw new Error(`migration ${file.file} was changed after it was applied; add a new migration instead of editing it`);
      }
    }
    const adopted = done.size === 0 ? await adoptable(session, files) : [];
    if (adopted.length) {
      await session.transaction(async (tx) => {
        for (const file of adopted) {
          await tx.query(`insert into webhook_router.migrations (version, name, checksum, how) values ($1, $2, $3, 'adopted')`, [file.version, file.name, file.checksum]);
        }
      });
    }
    const skip = new Set([...done.keys(), ...adopted.map((f) => f.version)]);
    const applied: string[] = [];
    for (const file of files) {
      if (skip.has(file.version)) continue;
      await session.transaction(async (tx) => {
        await tx.exec(file.sql);
        await tx.query('insert into webhook_router.migrations (version, name, checksum) values ($1, $2, $3)', [file.version, file.name, file.checksum]);
      });
      applied.push(file.file);
    }
    return { applied, adopted: adopted.map((f) => f.file) };
  } finally {
    await session.query(UNLOCK_SQL);
  }
}

/** One line for the banner and `migrate`: what ran, or that nothing had to. */
export function describeMigration(report: MigrationReport): string {
  const parts: string[] = [];
  if (report.adopted.length) parts.push(`recorded ${report.adopted.length} migrations the Supabase CLI had applied`);
  parts.push(report.applied.length ? `applied ${report.applied.join(', ')}` : 'database is up to date');
  return parts.join('; ');
}
