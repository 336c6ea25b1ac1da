// TLS for direct Postgres connections: the option chosen per URL, then real connections — to the
// local server without TLS, and to a server on a non-loopback address, which must be asked for TLS
// unless the URL says sslmode=disable.
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalDatabase } from '../../../src/cli/local-db.ts';
import { loadConfig } from '../../../src/shared/config.ts';
import { createPostgresDatabase } from '../../../src/shared/db/postgres.ts';
import { isLoopbackHost, postgresSsl, sslModeOf } from '../../../src/shared/db/tls.ts';
import { cliEnv, runCli } from '../../helpers/cli.ts';
import { startFakePostgres, type FakePostgres } from '../../helpers/fake-postgres.ts';
import { onPostgres, reportSkip } from '../../helpers/test-db.ts';

describe('the ssl option chosen per URL', () => {
  it.each([
    ['postgres://u:p@127.0.0.1:5432/db', 'disable', false],
    ['postgres://u:p@localhost/db', 'disable', false],
    ['postgres://u:p@[::1]:5432/db', 'disable', false],
    ['postgres://u:p@127.10.0.3/db', 'disable', false],
    ['postgres:///db', 'disable', false],
    ['postgres://u:p@db.abcd.supabase.co:5432/postgres', 'require', 'require'],
    ['postgresql://u:p@10.0.0.5/db', 'require', 'require'],
    ['postgres://u:p@localhost.example.com/db', 'require', 'require'],
    ['postgres://u:p@db.example.com/db?sslmode=disable', 'disable', false],
    ['postgres://u:p@db.example.com/db?sslmode=allow', 'allow', 'prefer'],
    ['postgres://u:p@db.example.com/db?sslmode=prefer', 'prefer', 'prefer'],
    ['postgres://u:p@127.0.0.1/db?sslmode=require', 'require', 'require'],
    ['postgres://u:p@db.example.com/db?sslmode=verify-full', 'verify-full', { rejectUnauthorized: true }],
  ] as const)('%s → sslmode %s', (url, mode, ssl) => {
    expect(sslModeOf(url)).toBe(mode);
    expect(postgresSsl(url)).toEqual(ssl);
  });

  it('verify-ca checks the chain but not the host name', () => {
    const ssl = postgresSsl('postgres://u:p@db.example.com/db?sslmode=verify-ca');
    expect(ssl).toMatchObject({ rejectUnauthorized: true });
    expect(typeof ssl === 'object' && ssl.checkServerIdentity?.()).toBeUndefined();
    expect(typeof ssl === 'object' && typeof ssl.checkServerIdentity).toBe('function');
  });

  it('an unknown sslmode is an error that names the allowed ones and never the URL', () => {
    expect(() => sslModeOf('postgres://u:hunter2@db.example.com/db?sslmode=on')).toThrow(
      'sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full, got "on"',
    );
    try {
      sslModeOf('postgres://u:hunter2@db.example.com/db?sslmode=on');
    } catch (error) {
      expect(String(error)).not.toContain('hunter2');
    }
  });

  it('loopback is 127.0.0.0/8, ::1 and localhost only', () => {
    expect(['127.0.0.1', '127.255.0.9', '::1', '[::1]', 'localhost', 'LOCALHOST'].every(isLoopbackHost)).toBe(true);
    expect(['128.0.0.1', '10.0.0.1', 'localhost.evil.example', '::2', '0.0.0.0', '127.0.0'].some(isLoopbackHost)).toBe(false);
  });
});

describe('real connections', () => {
  reportSkip('TLS against the local server', 'needs the real PostgreSQL server (set DATABASE_URL to run it)');

  it('the CLI stops on an unknown sslmode with a message naming DATABASE_URL (exit 2, nothing printed of the URL)', async () => {
    const result = await runCli(['stats'], cliEnv({ DATABASE_URL: 'postgres://u:hunter2@db.example.com/db?sslmode=on' }));
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(
      'error: DATABASE_URL: sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full, got "on"',
    );
    expect(result.stderr + result.stdout).not.toContain('hunter2');
  });

  it.skipIf(!onPostgres)('127.0.0.1 without sslmode connects without TLS (the local server offers none)', async () => {
    const db = await openLocalDatabase(loadConfig({ DATABASE_URL: process.env.DATABASE_URL }));
    try {
      const [row] = await db.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()', []);
      expect(row).toEqual({ ssl: false });
    } finally {
      await db.close();
    }
  });

  it.skipIf(!onPostgres)('sslmode=require is honoured: the local server without TLS is refused; prefer falls back', async () => {
    const url = new URL(process.env.DATABASE_URL as string);
    url.searchParams.set('sslmode', 'require');
    const required = await openLocalDatabase(loadConfig({ DATABASE_URL: url.toString() }));
    try {
      // It tries TLS and fails; it never carries on in clear.
      await expect(required.query('select 1', [])).rejects.toThrow(/secure TLS connection|does not support SSL/i);
    } finally {
      await required.close();
    }
    url.searchParams.set('sslmode', 'prefer');
    const preferred = await openLocalDatabase(loadConfig({ DATABASE_URL: url.toString() }));
    try {
      expect(await preferred.query('select 1 as one', [])).toEqual([{ one: 1 }]);
    } finally {
      await preferred.close();
    }
  });

  describe('a server on a non-loopback address', () => {
    const address = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && !a.internal && a.family === 'IPv4')?.address;
    reportSkip('TLS default for a remote host', 'this machine has no non-loopback IPv4 address');
    let fake: FakePostgres;
    beforeAll(async () => {
      if (address) fake = await startFakePostgres(address);
    });
    afterAll(async () => {
      await fake?.close();
    });

    it.skipIf(!address)('is asked for TLS by default (the shared adapter the Netlify and Edge functions use)', async () => {
      const db = createPostgresDatabase(`postgres://postgres:pw@${address}:${fake.port}/postgres`);
      await expect(db.call('webhook_stats_routes', { p_since: null })).rejects.toThrow();
      await db.close();
      expect(fake.connections[0]).toMatchObject({ askedForTls: true, password: null });
    });

    it.skipIf(!address)('is connected to in clear only with sslmode=disable', async () => {
      const before = fake.connections.length;
      const db = createPostgresDatabase(`postgres://postgres:pw@${address}:${fake.port}/postgres?sslmode=disable`);
      await expect(db.call('webhook_stats_routes', { p_since: null })).rejects.toThrow(/password authentication failed/);
      await db.close();
      expect(fake.connections[before]).toMatchObject({ askedForTls: false, user: 'postgres', password: 'pw' });
    });
  });
});
