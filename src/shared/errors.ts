// Small named errors that say what happens next, not what went wrong inside.

/** A configuration value is missing or invalid: the process must not start with it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
  }
}

/** The database could not be reached or failed: answer 503 so GitHub can redeliver. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The job can never succeed (malformed): dead-letter it at once, without retries. */
export class NonRetriableError extends Error {
  override name = 'NonRetriableError';
}

/** A dependency asked us to wait: put the job back until `retryAt` without spending a retry. */
export class RetryAfterError extends Error {
  override name = 'RetryAfterError';
  constructor(message: string, readonly retryAt: Date) {
    super(message);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
