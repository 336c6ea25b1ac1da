// A password in a database URL is never printed: real failing connections (a server that refuses
// the password, a closed port) through the CLI as a child process, and the Supabase CLI run the
// test template uses. The fake server records the password it was sent, proving it was used.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactCredentials, redactUrl } from '../../src/shared/db/redact.ts';
import { cliEnv, runCli, type CliResult } from '../helpers/cli.ts';
import { startFakePostgres, type FakePostgres } from '../helpers/fake-postgres.ts';
import { freePort } from '../helpers/net.ts';
import { migrateWithSupabaseCli } from '../helpers/supabase-cli.ts';

const PASSWORD = 'Sup3r:S3cr@t/pw%';
const ENCODED = encodeURIComponent(PASSWORD);

function expectNoPassword(result: Pick<CliResult, 'stdout' | 'stderr'>): void {
  for (const text of [result.stdout, result.stderr]) {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(ENCODED);
    expect(text).not.toContain('S3cr@t');
  }
}

describe('no password on stdout or stderr', () => {
  let fake: FakePostgres;
  let refusing = '';
  let closed = '';
  let dataDir = '';
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wr-credentials-'));
    fake = await startFakePostgres();
    refusing = `postgres://postgres:${ENCODED}@127.0.0.1:${fake.port}/postgres`;
    closed = `postgres://postgres:${ENCODED}@127.0.0.1:${await freePort()}/postgres`;
  });
  afterAll(async () => {
    await fake?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('migrate with DATABASE_URL, refused by the server: the password was sent, and is not printed', async () => {
    const before = fake.connections.length;
    const result = await runCli(['migrate'], cliEnv({ DATABASE_URL: refusing }));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: .*password authentication failed/);
    expect(fake.connections.slice(before).map((c) => c.password)).toContain(PASSWORD);
    expectNoPassword(result);
  });

  it('migrate --database-url, refused by the server', async () => {
    const result = await runCli(['migrate', '--database-url', refusing], cliEnv());
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/password authentication failed/);
    expectNoPassword(result);
  });

  it.each([['migrate'], ['stats'], ['start']])('%s against a closed port', async (verb) => {
    const argv = verb === 'start' ? [verb, '--port', String(await freePort())] : [verb];
    const result = await runCli(argv, cliEnv({ DATABASE_URL: closed, WEBHOOK_ROUTER_DATA_DIR: dataDir }));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: .*ECONNREFUSED/m);
    expectNoPassword(result);
  });

  it('the Supabase CLI gets the password from PGPASSWORD, not its command line, and its error does not repeat it', async () => {
    const before = fake.connections.length;
    let message = '';
    await migrateWithSupabaseCli(refusing).catch((error: Error) => (message = error.message));
    expect(message).toMatch(/password authentication failed/);
    expect(fake.connections.slice(before).map((c) => c.password)).toContain(PASSWORD);
    expectNoPassword({ stdout: message, stderr: '' });
  });
});

describe('redaction', () => {
  it('masks the password of any URL in a text, and a known URL\'s password wherever it appears', () => {
    const url = `postgresql://postgres:${ENCODED}@db.example.com:5432/postgres`;
    expect(redactUrl(url)).toBe('postgresql://postgres:***@db.example.com:5432/postgres');
    expect(redactCredentials(`Command failed: supabase --db-url ${url} --workdir .`)).toBe(
      'Command failed: supabase --db-url postgresql://postgres:***@db.example.com:5432/postgres --workdir .',
    );
    expect(redactCredentials(`auth with ${PASSWORD} and ${ENCODED} failed`, [url])).toBe('auth with *** and *** failed');
    expect(redactCredentials('postgres://postgres@127.0.0.1/db has no password')).toBe('postgres://postgres@127.0.0.1/db has no password');
  });
});
