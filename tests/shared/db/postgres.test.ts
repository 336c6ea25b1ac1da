// Named prepared statements everywhere except behind a transaction-mode pooler, where consecutive
// statements may reach different server connections that never saw the PREPARE.
import { describe, expect, it } from 'vitest';
import { preparesStatements } from '../../../src/shared/db/postgres.ts';

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
  ])('%s → %s', (url, expected) => {
    expect(preparesStatements(url)).toBe(expected);
  });
});
