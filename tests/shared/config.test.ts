import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.ts';
import { ConfigError } from '../../src/shared/errors.ts';

function errorFor(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      githubWebhookSecrets: [],
      workspaceThreshold: 10,
      quickEvents: ['ping', 'repository'],
      maxBodyBytes: 6 * 1024 * 1024,
      database: { kind: 'none' },
      inngest: { eventKey: null, baseUrl: null },
      serviceRoleKey: null,
    });
    expect(config.drain).toMatchObject({
      url: null,
      secret: null,
      budgetMs: 150_000,
      jobTimeoutMs: 30_000,
      leaseSeconds: 180,
      maxRetries: 5,
      circuitFailureThreshold: 5,
      circuitCooldownSeconds: 30,
    });
  });

  it('takes each secret whole (a comma is part of it) and the previous one while rotating', () => {
    expect(loadConfig({ GITHUB_WEBHOOK_SECRET: 'Kx9#v2Lq,7-0123456789' }).githubWebhookSecrets).toEqual(['Kx9#v2Lq,7-0123456789']);
    expect(
      loadConfig({ GITHUB_WEBHOOK_SECRET: 'new-secret-0123456789', GITHUB_WEBHOOK_SECRET_PREVIOUS: 'old-secret-0123456789' }).githubWebhookSecrets,
    ).toEqual(['new-secret-0123456789', 'old-secret-0123456789']);
    expect(loadConfig({ GITHUB_WEBHOOK_SECRET: '   ' }).githubWebhookSecrets).toEqual([]);
  });

  it('warns about a weak secret and one with surrounding whitespace, without failing', () => {
    expect(loadConfig({ GITHUB_WEBHOOK_SECRET: 'short' }).warnings).toEqual([
      'GITHUB_WEBHOOK_SECRET is weak: 5 characters, use at least 16 random ones',
    ]);
    expect(loadConfig({ GITHUB_WEBHOOK_SECRET: ' long-enough-secret-123 ' }).warnings).toEqual([
      'GITHUB_WEBHOOK_SECRET starts or ends with whitespace, which is part of the secret',
    ]);
    expect(loadConfig({ GITHUB_WEBHOOK_SECRET: 'a-strong-secret-0123456789' }).warnings).toEqual([]);
  });

  it('refuses GITHUB_WEBHOOK_SECRET_PREVIOUS without GITHUB_WEBHOOK_SECRET', () => {
    expect(errorFor({ GITHUB_WEBHOOK_SECRET_PREVIOUS: 'old-secret-0123456789' }).variable).toBe('GITHUB_WEBHOOK_SECRET_PREVIOUS');
  });

  it('keeps rows at least GitHub\'s 3-day redelivery window, and dead letters at least as long as the rest', () => {
    expect(loadConfig({}).drain.retention).toEqual({ completedDays: 14, failedDays: 30 });
    expect(errorFor({ RETENTION_DAYS: '2' }).variable).toBe('RETENTION_DAYS');
    expect(errorFor({ RETENTION_DAYS: '20', FAILED_RETENTION_DAYS: '10' }).variable).toBe('FAILED_RETENTION_DAYS');
    expect(loadConfig({ RETENTION_DAYS: '40' }).drain.retention).toEqual({ completedDays: 40, failedDays: 40 });
  });

  it('prefers DATABASE_URL, then SUPABASE_DB_URL, then supabase-js rpc', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://a@h/db', VITE_SUPABASE_URL: 'https://x.supabase.co', SUPABASE_SERVICE_ROLE_KEY: 'k' }).database)
      .toEqual({ kind: 'postgres', url: 'postgres://a@h/db' });
    expect(loadConfig({ SUPABASE_DB_URL: 'postgresql://a@h/db' }).database).toEqual({ kind: 'postgres', url: 'postgresql://a@h/db' });
    expect(loadConfig({ VITE_SUPABASE_URL: 'https://x.supabase.co/', SUPABASE_SERVICE_ROLE_KEY: 'k' }).database)
      .toEqual({ kind: 'rpc', supabaseUrl: 'https://x.supabase.co', serviceRoleKey: 'k' });
  });

  it('derives the drain URL from the Supabase URL unless PROCESS_WEBHOOK_URL is given', () => {
    expect(loadConfig({ VITE_SUPABASE_URL: 'https://x.supabase.co', SUPABASE_SERVICE_ROLE_KEY: 'k' }).drain.url)
      .toBe('https://x.supabase.co/functions/v1/process-webhook');
    expect(loadConfig({ PROCESS_WEBHOOK_URL: 'http://127.0.0.1:9/x' }).drain.url).toBe('http://127.0.0.1:9/x');
  });

  it.each([
    [{ WORKSPACE_THRESHOLD: 'ten' }, 'WORKSPACE_THRESHOLD'],
    [{ WORKSPACE_THRESHOLD: '-1' }, 'WORKSPACE_THRESHOLD'],
    [{ QUICK_EVENTS: 'ping,star' }, 'QUICK_EVENTS'],
    [{ DATABASE_URL: 'mysql://u:pw@h/db' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL'],
    [{ VITE_SUPABASE_URL: 'https://x.supabase.co' }, 'SUPABASE_SERVICE_ROLE_KEY'],
    [{ INNGEST_BASE_URL: 'ftp://x' }, 'INNGEST_BASE_URL'],
    [{ WEBHOOK_MAX_BODY_BYTES: '0' }, 'WEBHOOK_MAX_BODY_BYTES'],
    [{ DRAIN_BUDGET_MS: '1.5' }, 'DRAIN_BUDGET_MS'],
    [{ JOB_LEASE_SECONDS: '20' }, 'JOB_LEASE_SECONDS'],
    // Longer than the 30 s job timeout, but not by the 3.1 s kept to complete the round.
    [{ JOB_LEASE_SECONDS: '31' }, 'JOB_LEASE_SECONDS'],
    [{ CIRCUIT_FAILURE_THRESHOLD: '0' }, 'CIRCUIT_FAILURE_THRESHOLD'],
  ])('%j is refused with a message naming %s', (env, variable) => {
    const error = errorFor(env);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
  });

  it('never puts a URL value in the message (it may carry a password)', () => {
    const error = errorFor({ DATABASE_URL: 'mysql://app:Sup3rS3cret@db/app' });
    expect(error.message).not.toContain('Sup3rS3cret');
  });
});

describe('DATABASE_URL sslmode', () => {
  it('stops at start on an sslmode libpq does not know, naming the variable and never the URL', () => {
    const error = errorFor({ DATABASE_URL: 'postgres://u:secret-pw@db.example.com/x?sslmode=sometimes' });
    expect(error.variable).toBe('DATABASE_URL');
    expect(error.message).toMatch(/sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full, got "sometimes"/);
    expect(error.message).not.toContain('secret-pw');
    expect(errorFor({ SUPABASE_DB_URL: 'postgres://db.example.com/x?sslmode=on' }).variable).toBe('SUPABASE_DB_URL');
    expect(loadConfig({ DATABASE_URL: 'postgres://db.example.com/x?sslmode=verify-full' }).database).toMatchObject({ kind: 'postgres' });
  });
});

describe('.env.example', () => {
  it('documents every variable the configuration reads', async () => {
    const { readFile } = await import('node:fs/promises');
    const source = await readFile(new URL('../../src/shared/config.ts', import.meta.url), 'utf8');
    const example = await readFile(new URL('../../.env.example', import.meta.url), 'utf8');
    const read = new Set([...source.matchAll(/(?:env\.|')([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b/g)].map((m) => m[1] as string));
    expect(read.size).toBeGreaterThan(20);
    const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect([...read].filter((name) => !documented.has(name))).toEqual([]);
  });
});
