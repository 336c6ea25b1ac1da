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

/** A query reached the database and failed (a bug or a constraint): not an outage, so not a 503. */
export class DatabaseQueryError extends Error {
  override name = 'DatabaseQueryError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * SQLSTATE classes that mean "try again later": connection exceptions (08), serialization
 * failures and deadlocks (40), insufficient resources (53), operator intervention such as
 * statement timeouts and shutdowns (57), system errors (58).
 */
const TRANSIENT_SQLSTATE = /^(08|40|53|57|58)/;

/** Outage or query failure: decided by the SQLSTATE when the database answered one. */
export function databaseError(message: string, cause: unknown): DatabaseUnavailableError | DatabaseQueryError {
  // Thrown by the driver before anything was sent (serialising a value, a bad parameter): a bug
  // of ours, not an outage.
  if (cause instanceof RangeError || cause instanceof TypeError || cause instanceof SyntaxError) {
    if ((cause as { code?: unknown }).code === undefined) return new DatabaseQueryError(message, { cause });
  }
  const code = (cause as { code?: unknown } | null)?.code;
  const sqlstate = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^[A-Z]{5}$/.test(code) ? code : null;
  if (sqlstate && !TRANSIENT_SQLSTATE.test(sqlstate)) return new DatabaseQueryError(message, { cause });
  return new DatabaseUnavailableError(message, { cause });
}

/** The job can never succeed (malformed): dead-letter it at once, without retries. */
export class NonRetriableError extends Error {
  override name = 'NonRetriableError';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
