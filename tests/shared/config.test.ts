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

  it('accepts a rotated second secret, comma-separated', () => {
    expect(loadConfig({ GITHUB_WEBHOOK_SECRET: ' new , old ' }).githubWebhookSecrets).toEqual(['new', 'old']);
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
