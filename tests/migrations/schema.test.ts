import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migratePglite, migratePostgres, migrationFiles } from '../../src/node/migrations.ts';
import { migrateWithSupabaseCli } from '../helpers/supabase-cli.ts';
import { seedRepository } from '../../src/node/seed.ts';
import type { QueryFn } from '../../src/shared/db/sql.ts';
import { createEmptyDatabase, createTestDatabase, onPostgres, type TestDatabase } from '../helpers/test-db.ts';

type Row = Record<string, unknown>;

/**
 * One connection, so `begin; set local role …; …; rollback` and `set enable_seqscan` hold across
 * statements. Postgres: a max-1 postgres.js client of our own on the test database (simple
 * protocol, so a whole migration file runs in one call). PGlite: its only connection.
 */
interface Session {
  run(text: string): Promise<Row[]>;
  close(): Promise<void>;
}

function openSession(db: TestDatabase): Session {
  if (db.url) {
    const sql = postgres(db.url, { max: 1, onnotice: () => {}, prepare: false });
    return {
      run: async (text) => [...(await sql.unsafe(text))],
      close: () => sql.end({ timeout: 5 }),
    };
  }
  return { run: (text) => db.query(text, []), close: async () => {} };
}

let t: TestDatabase;
let s: Session;

/** Runs `stmt` as `role` inside a transaction that is always rolled back. */
async function asRole(role: string, stmt: string): Promise<Row[]> {
  await s.run('begin');
  try {
    await s.run(`set local role ${role}`);
    return await s.run(stmt);
  } finally {
    await s.run('rollback');
  }
}

/** Runs several statements in one rolled-back transaction, returning the last result. */
async function inRolledBackTransaction(stmts: string[]): Promise<Row[]> {
  await s.run('begin');
  try {
    let last: Row[] = [];
    for (const stmt of stmts) last = await s.run(stmt);
    return last;
  } finally {
    await s.run('rollback');
  }
}

const errorOf = async (p: Promise<unknown>): Promise<{ code?: string; message: string }> => {
  try {
    await p;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected the statement to fail, but it succeeded');
};

beforeAll(async () => {
  t = await createTestDatabase();
  s = openSession(t);
});
afterAll(async () => {
  await s?.close();
  await t?.close();
});

describe('constraints', () => {
  it("the status check constraint rejects status = 'bogus'", async () => {
    const error = await errorOf(
      t.query(`insert into background_jobs (type, payload, status) values ('webhook/push', '{}', 'bogus')`, []),
    );
    expect(error.code).toBe('23514');
    expect(error.message).toMatch(/background_jobs_status_check/);
    // Every real status is accepted.
    for (const status of ['queued', 'processing', 'completed', 'failed', 'cancelled']) {
      await t.query(`insert into background_jobs (type, payload, status) values ('webhook/schema-test', '{}', $1)`, [
        status,
      ]);
    }
    await t.query(`delete from background_jobs where type = 'webhook/schema-test'`, []);
  });

  it('the delivery_id key rejects a second row with the same GUID', async () => {
    const guid = '72d3162e-cc78-11e3-81ab-4c9367dc0958';
    const insert = `insert into webhook_deliveries (delivery_id, event, route, status_code)
                    values ($1, 'ping', 'inline', 200)`;
    await t.query(insert, [guid]);
    const error = await errorOf(t.query(insert, [guid]));
    expect(error.code).toBe('23505');
    expect(error.message).toMatch(/webhook_deliveries_pkey/);
    const [row] = await t.query('select count(*)::int as n from webhook_deliveries where delivery_id = $1', [guid]);
    expect(row?.n).toBe(1);
  });
});

describe('claim index', () => {
  it('background_jobs_claim_idx is a partial index on (priority, run_at) where status is queued', async () => {
    const rows = await t.query(
      `select indexdef from pg_indexes where schemaname = 'public' and indexname = 'background_jobs_claim_idx'`,
      [],
    );
    expect(rows).toHaveLength(1);
    expect(String(rows[0]?.indexdef)).toMatch(/ON public\.background_jobs USING btree \(priority, run_at\) WHERE \(status = 'queued'::text\)/);
  });

  it("the claim query's plan can use background_jobs_claim_idx", async () => {
    await t.query(
      `insert into background_jobs (type, payload, status, priority, run_at)
       select 'webhook/plan-test', '{}', case when g % 4 = 0 then 'queued' else 'completed' end,
              (g % 3) * 50, now() - make_interval(secs => g)
       from generate_series(1, 400) g`,
      [],
    );
    try {
      await t.query('analyze background_jobs', []);
      const plan = await inRolledBackTransaction([
        'set local enable_seqscan = off',
        `explain select id from background_jobs where status='queued' and run_at <= now()
         order by priority, run_at limit 10`,
      ]);
      const text = plan.map((r) => String(Object.values(r)[0])).join('\n');
      expect(text).toMatch(/background_jobs_claim_idx/);
    } finally {
      await t.query(`delete from background_jobs where type = 'webhook/plan-test'`, []);
    }
  });
});

describe('row level security and grants', () => {
  const TABLES = [
    'background_jobs',
    'webhook_deliveries',
    'webhook_circuit_breakers',
    'webhook_delivery_duplicates',
    'webhook_drain_marker',
    'webhook_repository_workspace_counts',
  ];
  const INSERTS: Record<string, string> = {
    background_jobs: `insert into background_jobs (type, payload) values ('webhook/push', '{}')`,
    webhook_deliveries: `insert into webhook_deliveries (delivery_id, event, route, status_code) values ('rls-test', 'ping', 'inline', 200)`,
    webhook_circuit_breakers: `insert into webhook_circuit_breakers (name) values ('rls-test')`,
    webhook_delivery_duplicates: `insert into webhook_delivery_duplicates (delivery_id, duplicate_of, reason) values ('rls-test', 'rls-visible', 'body')`,
    webhook_drain_marker: `update webhook_drain_marker set held_by = 'rls-test' returning id`,
    webhook_repository_workspace_counts: `insert into webhook_repository_workspace_counts (repository_id, active_workspaces)
      select id, 0 from repositories where full_name = 'acme/rls-test' on conflict (repository_id) do nothing returning repository_id`,
  };
  const UPDATES: Record<string, string> = {
    background_jobs: `status = 'ignored'`,
    webhook_deliveries: `route = 'ignored'`,
    webhook_circuit_breakers: `state = 'open'`,
    webhook_delivery_duplicates: `reason = 'body'`,
    webhook_drain_marker: `held_by = 'x'`,
    webhook_repository_workspace_counts: 'active_workspaces = 0',
  };
  const FUNCTIONS = [
    'webhook_affected_workspaces(bigint, text)',
    'mark_workspaces_cache_stale(uuid[])',
    'inspect_webhook_delivery(text, text, bigint, text, integer)',
    'record_webhook_delivery(text, text, text, text, text, bigint, text, integer, integer, integer, jsonb, integer)',
    'receive_webhook_delivery(text, text, text, text, text, bigint, integer, jsonb, integer)',
    'record_webhook_duplicate(text, text, text, integer)',
    'get_job_statistics_summary(timestamptz)',
    'claim_webhook_jobs(text, integer, integer, uuid, text, integer)',
    'settle_webhook_jobs(text, jsonb, double precision, double precision, text, integer, integer)',
    'settle_webhook_round(text, jsonb, double precision, double precision, text, integer, integer, boolean)',
    'webhook_drain_round(text, integer, integer, uuid, text, integer, text, jsonb, double precision, double precision, integer, integer)',
    'webhook_uuid_v7()',
    'webhook_uuid_v7_floor(timestamptz)',
    'webhook_uuid_v7_at(timestamptz)',
    'webhook_jobs_since(timestamptz)',
    'webhook_recount_workspaces()',
    'webhook_count_workspaces_from_links()',
    'webhook_count_link_change()',
    'webhook_count_workspace_change()',
    'webhook_recount_after_truncate()',
    'complete_webhook_job(uuid, text, jsonb)',
    'complete_webhook_jobs(text, jsonb)',
    'fail_webhook_job(uuid, text, text, boolean, jsonb, double precision, double precision)',
    'defer_webhook_job(uuid, text, timestamptz, text)',
    'replay_webhook_jobs(uuid, timestamptz, boolean, boolean)',
    'count_pending_webhook_jobs()',
    'release_drain_marker(text)',
    'prune_webhook_data(double precision, double precision, integer, boolean)',
    'finish_inline_delivery(text, uuid, boolean, integer, integer)',
    'free_drain_kick()',
    'acquire_circuit(text, text, integer)',
    'report_circuit(text, text, boolean, integer, integer, text)',
  ];

  /**
   * Every function in public except the host app's mark_workspace_cache_stale (the migrations
   * create it only where the host lacks it, and leave its grants to the host). Includes functions
   * added by later migrations; the list above must all be among them.
   */
  async function ourFunctionNames(): Promise<string[]> {
    const rows = await t.query(
      `select p.oid::regprocedure::text as sig, p.proname from pg_proc p
       where p.pronamespace = 'public'::regnamespace and p.proname <> 'mark_workspace_cache_stale'`,
      [],
    );
    const sigs = rows.map((r) => String(r.sig).replace(/^public\./, ''));
    // regprocedure prints `f(text,timestamp with time zone)`.
    const normalise = (sig: string) => sig.replace(/, /g, ',').replace(/timestamptz/g, 'timestamp with time zone');
    for (const fn of FUNCTIONS) expect(sigs, fn).toContain(normalise(fn));
    return [...new Set(rows.map((r) => String(r.proname)))];
  }

  beforeAll(async () => {
    // A row in each table, so "service_role sees it" proves reads pass RLS.
    await t.query(`insert into background_jobs (type, payload) values ('webhook/rls-visible', '{}')`, []);
    await t.query(
      `insert into webhook_deliveries (delivery_id, event, route, status_code) values ('rls-visible', 'ping', 'inline', 200)`,
      [],
    );
    await t.query(`insert into webhook_circuit_breakers (name) values ('rls-visible')`, []);
    await t.query(`insert into webhook_delivery_duplicates (delivery_id, duplicate_of, reason) values ('rls-visible-2', 'rls-visible', 'body')`, []);
    // A repository in one workspace: its kept count is a row of webhook_repository_workspace_counts.
    await seedRepository(t.query, { fullName: 'acme/rls-visible', githubId: 778, workspaces: 1 });
    await seedRepository(t.query, { fullName: 'acme/rls-test', githubId: 779, workspaces: 0 });
  });

  it('RLS is enabled on every private table', async () => {
    const rows = await t.query(
      `select relname, relrowsecurity from pg_class
       where relnamespace = 'public'::regnamespace and relname = any($1::text[]) order by relname`,
      [TABLES],
    );
    expect(rows.map((r) => [r.relname, r.relrowsecurity])).toEqual(
      [...TABLES].sort().map((name) => [name, true]),
    );
  });

  for (const role of ['anon', 'authenticated']) {
    for (const table of TABLES) {
      it(`${role}: select, insert, update and delete on ${table} are denied`, async () => {
        for (const stmt of [
          `select * from ${table}`,
          INSERTS[table]!,
          `update ${table} set ${UPDATES[table]}`,
          `delete from ${table}`,
        ]) {
          const error = await errorOf(asRole(role, stmt));
          expect(error.code, stmt).toBe('42501');
          expect(error.message, stmt).toMatch(new RegExp(`permission denied for table ${table}`));
        }
      });
    }

    it(`${role}: calling the queue's SQL functions is denied`, async () => {
      for (const [fn, stmt] of [
        ['claim_webhook_jobs', `select * from claim_webhook_jobs('x')`],
        [
          'record_webhook_delivery',
          `select * from record_webhook_delivery('rls-fn', null, 'ping', null, null, null, 'inline', 200, 1, 0)`,
        ],
        ['get_job_statistics_summary', 'select * from get_job_statistics_summary()'],
      ] as const) {
        const error = await errorOf(asRole(role, stmt));
        expect(error.code, stmt).toBe('42501');
        expect(error.message, stmt).toMatch(new RegExp(`permission denied for function ${fn}`));
      }
      // And every other function the migrations create: no EXECUTE for this role.
      const rows = await t.query(
        `select p.oid::regprocedure::text as f, has_function_privilege($1, p.oid, 'execute') as allowed
         from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname = any($2::text[])`,
        [role, await ourFunctionNames()],
      );
      expect(rows.length).toBeGreaterThanOrEqual(FUNCTIONS.length);
      expect(rows.filter((r) => r.allowed !== false).map((r) => r.f)).toEqual([]);
    });
  }

  it('service_role reads every private table (through RLS), writes, and calls the functions', async () => {
    for (const table of TABLES) {
      const rows = await asRole('service_role', `select * from ${table}`);
      expect(rows.length, table).toBeGreaterThan(0);
      await expect(asRole('service_role', INSERTS[table]!), table).resolves.toBeInstanceOf(Array);
    }
    const stats = await asRole('service_role', 'select * from get_job_statistics_summary()');
    expect(stats.map((r) => r.type)).toContain('webhook/rls-visible');
    const claimed = await asRole('service_role', `select * from claim_webhook_jobs('rls-test', 1)`);
    expect(claimed).toHaveLength(1);
    const rows = await t.query(
      `select p.oid::regprocedure::text as f from pg_proc p
       where p.pronamespace = 'public'::regnamespace and p.proname = any($1::text[])
         and not has_function_privilege('service_role', p.oid, 'execute')`,
      [await ourFunctionNames()],
    );
    expect(rows).toEqual([]);
    // The claim above was rolled back.
    const [job] = await t.query(`select status from background_jobs where type = 'webhook/rls-visible'`, []);
    expect(job?.status).toBe('queued');
  });
});

describe('host tables', () => {
  it('mark_workspace_cache_stale(uuid) exists and is idempotent: a second call keeps stale_since', async () => {
    const { workspaceIds } = await seedRepository(t.query, { fullName: 'acme/cache', githubId: 777, workspaces: 1 });
    const ws = workspaceIds[0]!;
    const read = async () =>
      (await t.query(
        `select is_stale, stale_since::text as stale_since, updated_at::text as updated_at,
                (select count(*)::int from workspace_metrics_cache where workspace_id = $1) as n
         from workspace_metrics_cache where workspace_id = $1`,
        [ws],
      ))[0];

    expect(await t.query(`select to_regprocedure('public.mark_workspace_cache_stale(uuid)') is not null as ok`, [])).toEqual([
      { ok: true },
    ]);
    await t.query('select public.mark_workspace_cache_stale($1)', [ws]);
    const first = await read();
    expect(first).toMatchObject({ is_stale: true, n: 1 });
    expect(first?.stale_since).toBeTruthy();

    await t.query('select pg_sleep(0.02)', []);
    await t.query('select public.mark_workspace_cache_stale($1)', [ws]);
    const second = await read();
    expect(second).toMatchObject({ is_stale: true, n: 1, stale_since: first?.stale_since });
    expect(String(second?.updated_at) > String(first?.updated_at)).toBe(true);

    // After the host refreshes the cache, the next call starts a new stale period.
    await t.query('update workspace_metrics_cache set is_stale = false, stale_since = null where workspace_id = $1', [ws]);
    await t.query('select pg_sleep(0.02)', []);
    const [count] = await t.query('select public.mark_workspaces_cache_stale(array[$1::uuid, $1::uuid]) as n', [ws]);
    expect(count?.n).toBe(2);
    const third = await read();
    expect(third).toMatchObject({ is_stale: true, n: 1 });
    expect(String(third?.stale_since) > String(first?.stale_since)).toBe(true);
  });

  it('running the migrations a second time applies nothing and changes nothing', async () => {
    // The Postgres template was migrated by the real Supabase CLI, PGlite by webhook-router's migrator.
    const history = onPostgres ? 'supabase_migrations.schema_migrations' : 'webhook_router.migrations';
    const before = await t.query(`select version from ${history} order by version`, []);
    expect(before.map((r) => r.version)).toEqual(
      (await migrationFiles()).map((f) => f.split('_')[0]),
    );
    const [job] = await t.query(`insert into background_jobs (type, payload) values ('webhook/rerun', '{"k":1}') returning id`, []);

    if (onPostgres) {
      // The real Supabase CLI against the already-migrated database.
      const output = await migrateWithSupabaseCli(t.url!);
      expect(output).toMatch(/up to date/i);
      expect(output).not.toMatch(/Applying migration/i);
      // Then webhook-router's migrator: it adopts what the CLI applied instead of running it again.
      expect(await migratePostgres(t.url!)).toEqual({ applied: [], adopted: await migrationFiles() });
      expect(await migratePostgres(t.url!)).toEqual({ applied: [], adopted: [] });
    } else {
      const pg = new PGlite();
      try {
        expect(await migratePglite(pg)).toEqual({ applied: await migrationFiles(), adopted: [] });
        expect(await migratePglite(pg)).toEqual({ applied: [], adopted: [] });
      } finally {
        await pg.close();
      }
    }
    const after = await t.query(`select version from ${history} order by version`, []);
    expect(after).toEqual(before);
    const [still] = await t.query('select payload from background_jobs where id = $1', [job?.id]);
    expect(still?.payload).toEqual({ k: 1 });
  });

  it('every migration file itself is idempotent: executing them all again raises no error and keeps data', async () => {
    const files = await migrationFiles();
    const [job] = await t.query(`insert into background_jobs (type, payload) values ('webhook/rerun-raw', '{}') returning id`, []);
    const fnBefore = await t.query(
      `select p.oid::regprocedure::text as sig, p.prosrc from pg_proc p
       where p.pronamespace = 'public'::regnamespace order by 1`,
      [],
    );
    if (onPostgres) {
      for (const file of files) await s.run(await readFile(join(MIGRATIONS_DIR, file), 'utf8'));
    } else {
      // PGlite's query() runs one statement; a fresh instance of our own runs whole files.
      const pg = new PGlite();
      try {
        await migratePglite(pg);
        await pg.query(`insert into background_jobs (type, payload) values ('webhook/rerun-raw', '{}')`);
        for (const file of files) await pg.exec(await readFile(join(MIGRATIONS_DIR, file), 'utf8'));
        const rows = (await pg.query<{ n: number }>(`select count(*)::int as n from background_jobs`)).rows;
        expect(rows[0]?.n).toBe(1);
      } finally {
        await pg.close();
      }
    }
    const fnAfter = await t.query(
      `select p.oid::regprocedure::text as sig, p.prosrc from pg_proc p
       where p.pronamespace = 'public'::regnamespace order by 1`,
      [],
    );
    expect(fnAfter).toEqual(fnBefore);
    expect(await t.query('select id from background_jobs where id = $1', [job?.id])).toHaveLength(1);
  });

  describe('on a database where the host app already has its own tables and function', () => {
    const HOST_SCHEMA = `
      create table public.workspaces (
        id uuid primary key default gen_random_uuid(),
        name text not null,
        owner_id uuid,
        created_at timestamptz not null default now()
      );
      create table public.host_cache_invalidations (
        workspace_id uuid not null,
        noted_at timestamptz not null default now()
      );
      create function public.mark_workspace_cache_stale(p_workspace uuid) returns void
      language sql as $$
        insert into public.host_cache_invalidations (workspace_id) values (p_workspace);
      $$;
      insert into public.workspaces (name, owner_id) values ('existing', gen_random_uuid());
    `;

    let q: QueryFn;
    let cleanup: () => Promise<void> = async () => {};

    beforeAll(async () => {
      if (onPostgres) {
        const host = await createEmptyDatabase('wr_host');
        cleanup = host.close;
        await host.query(HOST_SCHEMA, []);
        await migratePostgres(host.url);
        q = host.query;
      } else {
        const pg = new PGlite();
        cleanup = () => pg.close();
        await pg.exec(HOST_SCHEMA);
        await migratePglite(pg);
        q = async (text, params) => (await pg.query<Row>(text, params)).rows;
      }
    });
    afterAll(async () => {
      await cleanup();
    });

    it('all migrations were applied', async () => {
      const rows = await q('select version from webhook_router.migrations order by version', []);
      expect(rows.map((r) => r.version)).toEqual((await migrationFiles()).map((f) => f.split('_')[0]));
    });

    it("keeps the host's mark_workspace_cache_stale(uuid) and its workspaces columns, adds is_active", async () => {
      const fns = await q(
        `select p.prosrc, pg_get_function_arguments(p.oid) as args from pg_proc p
         where p.pronamespace = 'public'::regnamespace and p.proname = 'mark_workspace_cache_stale'`,
        [],
      );
      expect(fns).toHaveLength(1);
      expect(fns[0]?.args).toBe('p_workspace uuid');
      expect(String(fns[0]?.prosrc)).toMatch(/host_cache_invalidations/);

      const cols = await q(
        `select column_name, data_type, is_nullable, column_default from information_schema.columns
         where table_schema = 'public' and table_name = 'workspaces' order by ordinal_position`,
        [],
      );
      expect(cols.map((c) => c.column_name)).toEqual(['id', 'name', 'owner_id', 'created_at', 'is_active']);
      expect(cols.find((c) => c.column_name === 'is_active')).toMatchObject({
        data_type: 'boolean',
        is_nullable: 'NO',
        column_default: 'true',
      });
      const existing = await q(`select is_active, owner_id is not null as has_owner from workspaces where name = 'existing'`, []);
      expect(existing).toEqual([{ is_active: true, has_owner: true }]);
    });

    it("mark_workspaces_cache_stale goes through the host's function, not our cache table", async () => {
      const [ws] = await q(`select id from workspaces where name = 'existing'`, []);
      const [res] = await q('select mark_workspaces_cache_stale(array[$1::uuid]) as n', [ws?.id]);
      expect(res?.n).toBe(1);
      expect(await q('select workspace_id from host_cache_invalidations', [])).toEqual([{ workspace_id: ws?.id }]);
      expect(await q('select * from workspace_metrics_cache', [])).toEqual([]);
    });

    it('the receive path counts only active workspaces of the host table', async () => {
      const seeded = await seedRepository(q, { fullName: 'host/repo', githubId: 31337, workspaces: 2, inactiveWorkspaces: 1 });
      const rows = await q('select workspace_id from webhook_affected_workspaces($1, null)', [31337]);
      expect(rows.map((r) => r.workspace_id).sort()).toEqual([...seeded.workspaceIds].sort());
      const [inspect] = await q(`select * from inspect_webhook_delivery('host-d1', null, 31337, 'host/repo', 10)`, []);
      expect(inspect).toMatchObject({ already_recorded: false, workspace_count: 2 });
    });
  });
});
