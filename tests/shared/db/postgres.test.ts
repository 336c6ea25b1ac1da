// Named prepared statements everywhere except where the URL says no or points at a
// transaction-mode pooler, whose server connections never saw the PREPARE.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase, preparesStatements } from '../../../src/shared/db/postgres.ts';
import type { SqlFunction } from '../../../src/shared/db/port.ts';
import { createTestDatabase, onPostgres, reportSkip, type TestDatabase } from '../../helpers/test-db.ts';

describe('preparesStatements', () => {
  it.each([
    ['postgres://postgres@127.0.0.1:5432/postgres', true],
    ['postgres:///postgres', true],
    ['postgresql://postgres:pw@db.abcd.supabase.co:5432/postgres', true],
    // Supabase's session pooler keeps one server connection per client: prepared statements work.
    ['postgres://postgres.abcd:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres', true],
    // The transaction pooler (Supavisor, PgBouncer) on 6543 does not keep them.
    ['postgres://postgres.abcd:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres', false],
    ['postgres://u:p@10.0.0.5:6543/db?sslmode=require', false],
    // Any other pooler in transaction mode: say so in the URL (postgres.js reads it, no server sees it).
    ['postgres://u:p@pgbouncer.internal:6432/db?prepare=false', false],
    ['postgres://u:p@db.example.com/db?sslmode=require&prepare=false', false],
  ])('%s → %s', (url, expected) => {
    expect(preparesStatements(url)).toBe(expected);
  });
});

describe('on a real server', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
    if (onPostgres) {
      await t.query(
        `create function test_prepared_statements() returns table (statement text) language sql
         as $$ select statement from pg_prepared_statements $$`,
        [],
      );
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  reportSkip('prepared statements on a real connection', 'needs DATABASE_URL (PGlite has no postgres.js connection)');
  it.skipIf(!onPostgres)('a call is prepared once per connection, and not at all with prepare=false', async () => {
    const statementsAfterTwoCalls = async (url: string) => {
      const db = createPostgresDatabase(url, { max: 1 });
      try {
        const args = { p_repository_github_id: 404, p_repository: 'nobody/here' };
        for (let i = 0; i < 2; i++) await db.call('webhook_affected_workspaces', args);
        const rows = await db.call<{ statement: string }>('test_prepared_statements' as SqlFunction, {});
        return rows.map((r) => r.statement).filter((s) => s.includes('webhook_affected_workspaces'));
      } finally {
        await db.close();
      }
    };
    const url = t.url as string;
    expect(await statementsAfterTwoCalls(url)).toEqual([
      'select * from public.webhook_affected_workspaces(p_repository_github_id => $1, p_repository => $2)',
    ]);
    expect(await statementsAfterTwoCalls(`${url}${url.includes('?') ? '&' : '?'}prepare=false`)).toEqual([]);
  });
});
