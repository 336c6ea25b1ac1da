import { sslModeOf } from './db/tls.ts';
import { ConfigError } from './errors.ts';
import { SUPPORTED_EVENTS } from './github/events.ts';

/** The environment as a plain record, as each runtime's entrypoint reads it (Node, Netlify or Deno). */
export type EnvRecord = Readonly<Record<string, string | undefined>>;

export type DatabaseConfig =
  | { kind: 'postgres'; url: string }
  | { kind: 'rpc'; supabaseUrl: string; serviceRoleKey: string }
  | { kind: 'none' };

export interface Config {
  /**
   * GITHUB_WEBHOOK_SECRET, then GITHUB_WEBHOOK_SECRET_PREVIOUS while rotating; each taken whole.
   * Empty when not configured: the receiver then answers 500 and records nothing.
   */
  githubWebhookSecrets: string[];
  /** Things that work but should be fixed (a weak secret); each entrypoint logs them at start. */
  warnings: string[];
  workspaceThreshold: number;
  quickEvents: string[];
  maxBodyBytes: number;
  /** How long a queued push job waits for more pushes of its repository before it may run. */
  pushDebounceSeconds: number;
  database: DatabaseConfig;
  inngest: { eventKey: string | null; baseUrl: string | null };
  /** Also accepted as the drain's bearer token (what pg_cron or an operator may hold). */
  serviceRoleKey: string | null;
  /** Bearer token the status page's data endpoint requires; null: the endpoint refuses every request. */
  statusPageToken: string | null;
  drain: {
    /** Where the receive path kicks the drain; null when it cannot be derived. */
    url: string | null;
    secret: string | null;
    budgetMs: number;
    /** Longest a single job may take; the drain stops claiming when less than this is left. */
    jobTimeoutMs: number;
    batchSize: number;
    concurrency: number;
    fanoutConcurrency: number;
    leaseSeconds: number;
    maxRetries: number;
    retryBaseDelaySeconds: number;
    retryMaxDelaySeconds: number;
    circuitFailureThreshold: number;
    circuitCooldownSeconds: number;
    /** How long a drain keeps polling an empty queue for new jobs before it ends. */
    idleMs: number;
    /** The longest a drain waits for a scheduled job (a debounced push, a retry) to become ready. */
    waitSeconds: number;
    /** How long an enqueue that kicked the drain keeps later enqueues from kicking again. */
    kickHoldSeconds: number;
    /**
     * Jobs one invocation runs at most: Supabase allows 2 s of CPU per request, and a drain that
     * kept a burst going for its whole wall-clock budget would exceed it. Then it hands over.
     */
    maxJobs: number;
    retention: { completedDays: number; failedDays: number };
  };
}

/** Below this a webhook secret is guessable offline from one captured delivery. */
export const MIN_SECRET_LENGTH = 16;
/** GitHub redelivers for 3 days; delivery rows are the dedup key, so they must outlive that. */
export const MIN_RETENTION_DAYS = 3;

function text(env: EnvRecord, name: string): string | null {
  const value = env[name]?.trim();
  return value ? value : null;
}

function integer(env: EnvRecord, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = text(env, name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function url(env: EnvRecord, name: string, protocols: readonly string[]): string | null {
  const raw = text(env, name);
  if (raw === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    // Never echo the value: URLs carry passwords and the message may reach an HTTP answer.
    throw new ConfigError(name, 'must be a URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  }
  return raw.replace(/\/+$/, '');
}

function quickEvents(env: EnvRecord): string[] {
  const raw = env.QUICK_EVENTS;
  if (raw === undefined) return ['ping', 'repository'];
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(SUPPORTED_EVENTS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new ConfigError('QUICK_EVENTS', `unknown event(s) ${unknown.join(', ')}; supported: ${SUPPORTED_EVENTS.join(', ')}`);
  }
  return names;
}

/** A Postgres URL whose sslmode, if given, is one libpq knows (checked at start, not at connect). */
function postgresUrl(env: EnvRecord, name: string): string | null {
  const value = url(env, name, ['postgres:', 'postgresql:']);
  if (value === null) return null;
  try {
    sslModeOf(value);
  } catch (error) {
    throw new ConfigError(name, (error as Error).message);
  }
  return value;
}

function database(env: EnvRecord): DatabaseConfig {
  const direct = postgresUrl(env, 'DATABASE_URL') ?? postgresUrl(env, 'SUPABASE_DB_URL');
  if (direct) return { kind: 'postgres', url: direct };
  const supabaseUrl = url(env, 'VITE_SUPABASE_URL', ['http:', 'https:']) ?? url(env, 'SUPABASE_URL', ['http:', 'https:']);
  const serviceRoleKey = text(env, 'SUPABASE_SERVICE_ROLE_KEY');
  if (supabaseUrl && !serviceRoleKey) {
    throw new ConfigError('SUPABASE_SERVICE_ROLE_KEY', 'is required when VITE_SUPABASE_URL is set (and DATABASE_URL is not)');
  }
  if (supabaseUrl && serviceRoleKey) return { kind: 'rpc', supabaseUrl, serviceRoleKey };
  return { kind: 'none' };
}

/**
 * The part of a lease a drain may spend running jobs: the rest (a tenth, at most 10 s) is kept for
 * completing the round and for clock skew between the drain and the database that set the lease.
 */
export function usableLeaseMs(leaseSeconds: number): number {
  const leaseMs = leaseSeconds * 1000;
  return leaseMs - Math.min(10_000, leaseMs / 10);
}

/**
 * The webhook secrets, each taken whole: a comma or a space is part of a secret (splitting on
 * commas once accepted a delivery signed with the part after the comma). Whitespace-only is unset.
 */
function webhookSecrets(env: EnvRecord): { secrets: string[]; warnings: string[] } {
  const secrets: string[] = [];
  const warnings: string[] = [];
  for (const name of ['GITHUB_WEBHOOK_SECRET', 'GITHUB_WEBHOOK_SECRET_PREVIOUS']) {
    const value = env[name];
    if (value === undefined || value.trim() === '') continue;
    if (name === 'GITHUB_WEBHOOK_SECRET_PREVIOUS' && secrets.length === 0) {
      throw new ConfigError(name, 'is set but GITHUB_WEBHOOK_SECRET is not; set the new secret there');
    }
    if (value.length < MIN_SECRET_LENGTH) {
      warnings.push(`${name} is weak: ${value.length} characters, use at least ${MIN_SECRET_LENGTH} random ones`);
    }
    if (value !== value.trim()) warnings.push(`${name} starts or ends with whitespace, which is part of the secret`);
    secrets.push(value);
  }
  return { secrets, warnings };
}

/** Parses and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: EnvRecord): Config {
  const { secrets, warnings } = webhookSecrets(env);
  const supabaseUrl = url(env, 'VITE_SUPABASE_URL', ['http:', 'https:']) ?? url(env, 'SUPABASE_URL', ['http:', 'https:']);
  const drainUrl =
    url(env, 'PROCESS_WEBHOOK_URL', ['http:', 'https:']) ??
    (supabaseUrl ? `${supabaseUrl}/functions/v1/process-webhook` : null);
  const budgetMs = integer(env, 'DRAIN_BUDGET_MS', 150_000, 1_000, 3_600_000);
  const jobTimeoutMs = integer(env, 'DRAIN_JOB_TIMEOUT_MS', 30_000, 100, 3_600_000);
  const leaseSeconds = integer(env, 'JOB_LEASE_SECONDS', 180, 5, 86_400);
  if (usableLeaseMs(leaseSeconds) < jobTimeoutMs) {
    // A lease shorter than a job would let a second drain take a job that is still running.
    throw new ConfigError(
      'JOB_LEASE_SECONDS',
      `must cover DRAIN_JOB_TIMEOUT_MS (${jobTimeoutMs} ms) plus ${leaseSeconds * 1000 - usableLeaseMs(leaseSeconds)} ms to complete the round`,
    );
  }
  const pushDebounceSeconds = integer(env, 'PUSH_DEBOUNCE_SECONDS', 5, 0, 3_600);
  // A kicked drain waits for a debounced push's window; shorter would leave it to the minute sweep.
  const waitSeconds = integer(env, 'DRAIN_WAIT_SECONDS', Math.max(10, pushDebounceSeconds + 2), 0, 3_600);
  if (pushDebounceSeconds > 0 && waitSeconds < pushDebounceSeconds + 1) {
    throw new ConfigError(
      'DRAIN_WAIT_SECONDS',
      `must be at least PUSH_DEBOUNCE_SECONDS + 1 (${pushDebounceSeconds + 1}), or debounced pushes wait for the minute sweep`,
    );
  }
  const completedDays = integer(env, 'RETENTION_DAYS', 14, MIN_RETENTION_DAYS, 3_650);
  const failedDays = integer(env, 'FAILED_RETENTION_DAYS', Math.max(30, completedDays), MIN_RETENTION_DAYS, 3_650);
  if (failedDays < completedDays) {
    throw new ConfigError('FAILED_RETENTION_DAYS', `must be at least RETENTION_DAYS (${completedDays}): dead letters are kept longer`);
  }
  return {
    githubWebhookSecrets: secrets,
    warnings,
    workspaceThreshold: integer(env, 'WORKSPACE_THRESHOLD', 10, 0, 1_000_000),
    quickEvents: quickEvents(env),
    maxBodyBytes: integer(env, 'WEBHOOK_MAX_BODY_BYTES', 6 * 1024 * 1024, 1, 64 * 1024 * 1024),
    pushDebounceSeconds,
    database: database(env),
    inngest: {
      eventKey: text(env, 'INNGEST_EVENT_KEY'),
      baseUrl: url(env, 'INNGEST_BASE_URL', ['http:', 'https:']),
    },
    serviceRoleKey: text(env, 'SUPABASE_SERVICE_ROLE_KEY'),
    statusPageToken: text(env, 'STATUS_PAGE_TOKEN'),
    drain: {
      url: drainUrl,
      secret: text(env, 'PROCESS_WEBHOOK_SECRET'),
      budgetMs,
      jobTimeoutMs,
      batchSize: integer(env, 'DRAIN_BATCH_SIZE', 32, 1, 1_000),
      // Each running job mostly waits for Inngest (~150 ms): 16 at a time keeps up with 50+ jobs/s.
      concurrency: integer(env, 'DRAIN_CONCURRENCY', 16, 1, 100),
      fanoutConcurrency: integer(env, 'FANOUT_CONCURRENCY', 8, 1, 100),
      leaseSeconds,
      maxRetries: integer(env, 'JOB_MAX_RETRIES', 5, 0, 100),
      retryBaseDelaySeconds: integer(env, 'RETRY_BASE_DELAY_SECONDS', 10, 0, 86_400),
      retryMaxDelaySeconds: integer(env, 'RETRY_MAX_DELAY_SECONDS', 3_600, 0, 604_800),
      circuitFailureThreshold: integer(env, 'CIRCUIT_FAILURE_THRESHOLD', 5, 1, 1_000),
      circuitCooldownSeconds: integer(env, 'CIRCUIT_COOLDOWN_SECONDS', 30, 1, 86_400),
      idleMs: integer(env, 'DRAIN_IDLE_MS', 1_000, 0, 60_000),
      waitSeconds,
      kickHoldSeconds: integer(env, 'DRAIN_KICK_HOLD_SECONDS', 10, 1, 600),
      maxJobs: integer(env, 'DRAIN_MAX_JOBS', 500, 1, 1_000_000),
      retention: { completedDays, failedDays },
    },
  };
}
