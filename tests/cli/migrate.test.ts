// `webhook-router migrate` on real Postgres, as an operator runs it next to an existing Supabase
// app: a database whose supabase_migrations history holds versions this repository lacks (which
// `supabase db push` refuses) and whose host tables already exist with data. Run once, twice and
// twice at the same time, as a child process through the installed bin.
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migratePostgres, migrationFiles } from '../../src/node/migrations.ts';
import { cliEnv, eventually, runCli, spawnCli } from '../helpers/cli.ts';
import { migrateWithSupabaseCli } from '../helpers/supabase-cli.ts';
import { createEmptyDatabase, onPostgres, reportSkip } from '../helpers/test-db.ts';

reportSkip('webhook-router migrate on real Postgres', 'migrate is tested on a real server (set DATABASE_URL to run it)');

type Empty = Awaited<ReturnType<typeof createEmptyDatabase>>;

/** A Supabase app's database: its own migration history and tables (with data) before ours arrive. */
const HOST_APP = `
  create schema supabase_migrations;
  create table supabase_migrations.schema_migrations (version text primary key, statements text[], name text);
  insert into supabase_migrations.schema_migrations (version, name, statements) values
    ('20240101000000', 'create_profiles', array['create table public.profiles (id uuid primary key)']),
    ('20240315120000', 'create_workspaces', array['create table public.workspaces (...)']);
  create table public.profiles (id uuid primary key default gen_random_uuid(), handle text not null);
  create table public.workspaces (
    id uuid primary key default gen_random_uuid(),
    name text not null,
    owner_id uuid references public.profiles (id),
    created_at timestamptz not null default now()
  );
  create table public.repositories (
    id uuid primary key default gen_random_uuid(),
    github_id bigint unique,
    full_name text not null unique,
    default_branch text not null default 'main'
  );
  create table public.workspace_repositories (
    workspace_id uuid not null references public.workspaces (id) on delete cascade,
    repository_id uuid not null references public.repositories (id) on delete cascade,
    primary key (workspace_id, repository_id)
  );
  create table public.host_invalidations (workspace_id uuid not null);
  create function public.mark_workspace_cache_stale(workspace_id uuid) returns void
    language sql as $$ insert into public.host_invalidations values (workspace_id) $$;
  insert into public.profiles (handle) values ('octocat');
  insert into public.workspaces (name, owner_id) select 'acme', id from public.profiles;
  insert into public.repositories (github_id, full_name) values (42, 'acme/widgets');
  insert into public.workspace_repositories select w.id, r.id from public.workspaces w, public.repositories r;
`;

const checksum = async (file: string) => createHash('sha256').update(await readFile(join(MIGRATIONS_DIR, file), 'utf8')).digest('hex');

describe.skipIf(!onPostgres)('webhook-router migrate next to an existing Supabase app', () => {
  let db: Empty;
  let files: string[];
  const env = () => cliEnv({ DATABASE_URL: db.url });

  beforeAll(async () => {
    db = await createEmptyDatabase('wr_migrate_host');
    await db.query(HOST_APP, []);
    files = await migrationFiles();
  });
  afterAll(async () => {
    await db?.close();
  });

  it('the Supabase CLI refuses this database: its history has versions this repository lacks', async () => {
    await expect(migrateWithSupabaseCli(db.url)).rejects.toThrow(/Remote migration versions not found in local migrations directory/);
    expect(await db.query(`select to_regclass('public.background_jobs') as t`, [])).toEqual([{ t: null }]);
  });

  it('applies every migration in order, records each with its checksum, and leaves the host alone', async () => {
    const historyBefore = await db.query('select * from supabase_migrations.schema_migrations order by version', []);
    const result = await runCli(['migrate'], env());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(new RegExp(`^PostgreSQL postgres://\\S+: applied ${files.join(', ')}$`));

    const recorded = await db.query('select version, name, checksum, how, applied_at from webhook_router.migrations order by version', []);
    expect(recorded.map((r) => `${r.version}_${r.name}.sql`)).toEqual(files);
    for (const [i, row] of recorded.entries()) {
      expect(row.checksum).toBe(await checksum(files[i] as string));
      expect(row.how).toBe('applied');
      expect(row.applied_at).toBeInstanceOf(Date);
    }
    // The host's migration history, tables, data and function are as they were.
    expect(await db.query('select * from supabase_migrations.schema_migrations order by version', [])).toEqual(historyBefore);
    expect(await db.query('select full_name, default_branch from public.repositories', [])).toEqual([{ full_name: 'acme/widgets', default_branch: 'main' }]);
    const [fn] = await db.query(`select prosrc from pg_proc where proname = 'mark_workspace_cache_stale'`, []);
    expect(fn?.prosrc).toContain('host_invalidations');
    // Ours are there and work with the host's rows: the repository counts its one active workspace.
    const [count] = await db.query(`select count(*)::int as n from public.workspaces where is_active`, []);
    expect(count?.n).toBe(1);
    expect(await db.query(`select to_regclass('public.background_jobs')::text as t`, [])).toEqual([{ t: 'background_jobs' }]);
  });

  it('a second run applies nothing and changes no record', async () => {
    const before = await db.query('select * from webhook_router.migrations order by version', []);
    const result = await runCli(['migrate'], env());
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toMatch(/^PostgreSQL postgres:\/\/\S+: database is up to date$/);
    expect(await db.query('select * from webhook_router.migrations order by version', [])).toEqual(before);
  });

  it('--database-url instead of DATABASE_URL (not forwarded to a stack, no DATABASE_URL needed)', async () => {
    const result = await runCli(['migrate', '--database-url', db.url], cliEnv({ WEBHOOK_ROUTER_DATA_DIR: await mkdtemp(join(tmpdir(), 'wr-migrate-')) }));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toMatch(/: database is up to date$/);
  });

  it('--database-url that is not a Postgres URL is a usage error naming the flag', async () => {
    const result = await runCli(['migrate', '--database-url', 'mysql://x@h/db'], cliEnv());
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: --database-url must start with postgres:\/\/ or postgresql:\/\//);
  });
});

describe.skipIf(!onPostgres)('webhook-router migrate run twice at the same time', () => {
  let db: Empty;
  afterAll(async () => {
    await db?.close();
  });

  it('each migration is applied once: one run applies them all, the other finds them done', async () => {
    db = await createEmptyDatabase('wr_migrate_race');
    const env = cliEnv({ DATABASE_URL: db.url });
    const [a, b] = await Promise.all([runCli(['migrate'], env), runCli(['migrate'], env)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const outputs = [a.stdout.trim(), b.stdout.trim()].sort();
    const files = await migrationFiles();
    expect(outputs[0]).toMatch(new RegExp(`: applied ${files.join(', ')}$`));
    expect(outputs[1]).toMatch(/: database is up to date$/);
    const rows = await db.query('select version, count(*)::int as n from webhook_router.migrations group by version order by version', []);
    expect(rows).toEqual(files.map((f) => ({ version: f.split('_')[0], n: 1 })));
  });

  it('a run waits while another holds the lock, says so, and applies nothing until it is released', async () => {
    const fresh = await createEmptyDatabase('wr_migrate_lock');
    const holder = postgres(fresh.url, { max: 1, onnotice: () => {} });
    try {
      await holder`select pg_advisory_lock(hashtextextended('webhook_router.migrations', 0))`;
      const run = spawnCli(['migrate'], cliEnv({ DATABASE_URL: fresh.url }));
      // The CLI's start-up takes a few seconds on a loaded machine: wait for the message, not a fixed time.
      const waiting = 'another migrate is running on this database; waiting for it to finish';
      await eventually(async () => (run.output().includes(waiting) ? true : undefined), 20_000, 'the waiting message');
      expect(run.output()).toContain(waiting);
      expect(await fresh.query(`select to_regclass('webhook_router.migrations') as t`, [])).toEqual([{ t: null }]);
      await holder`select pg_advisory_unlock(hashtextextended('webhook_router.migrations', 0))`;
      expect(await run.exit).toEqual({ code: 0, signal: null });
      expect(run.output()).toMatch(/: applied /);
    } finally {
      await holder.end();
      await fresh.close();
    }
  });
});

describe.skipIf(!onPostgres)('the migrator keeps its record honest', () => {
  let db: Empty;
  let dir: string;
  beforeAll(async () => {
    db = await createEmptyDatabase('wr_migrate_record');
    dir = await mkdtemp(join(tmpdir(), 'wr-migrations-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
  });
  afterAll(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a failing migration is rolled back whole and not recorded; the ones before it stay', async () => {
    const files = await migrationFiles();
    const broken = '29990101000000_broken.sql';
    await writeFile(join(dir, broken), 'create table public.half_done (id int);\nselect no_such_function();\n');
    await expect(migratePostgres(db.url, { dir })).rejects.toThrow(/no_such_function/);
    const rows = await db.query('select version from webhook_router.migrations order by version', []);
    expect(rows.map((r) => r.version)).toEqual(files.map((f) => f.split('_')[0]));
    expect(await db.query(`select to_regclass('public.half_done') as t`, [])).toEqual([{ t: null }]);
    await rm(join(dir, broken));
  });

  it('refuses to go on when an applied file was edited since', async () => {
    const [first] = await migrationFiles(dir);
    await writeFile(join(dir, first as string), `${await readFile(join(dir, first as string), 'utf8')}\n-- edited\n`);
    await expect(migratePostgres(db.url, { dir })).rejects.toThrow(`migration ${first} was changed after it was applied; add a new migration instead of editing it`);
  });
});
