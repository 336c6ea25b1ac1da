import postgres from 'postgres';
import { createSqlDatabase } from './sql.ts';
import type { Database } from './port.ts';
import { postgresSsl } from './tls.ts';

export interface PostgresDatabase extends Database {
  close(): Promise<void>;
}

/**
 * Named prepared statements unless the URL says `prepare=false` or is on port 6543 (Supabase's
 * transaction pooler, Supavisor, and PgBouncer's usual transaction-mode port there), where
 * consecutive statements may reach server connections that never saw the PREPARE. Without them
 * postgres.js sends every query with parameters twice over: Parse and Describe, wait for the
 * answer, then Bind and Execute; prepared, a call is one Bind and Execute, parsed once per
 * connection. (postgres.js reads `prepare=false` from the URL itself and sends it to no server.)
 */
export function preparesStatements(url: string): boolean {
  const parsed = new URL(url);
  return parsed.port !== '6543' && parsed.searchParams.get('prepare') !== 'false';
}

/**
 * Direct Postgres through postgres.js (Node, Deno with SUPABASE_DB_URL, the CLI). The connect
 * timeout is short on purpose: an unreachable database must become a 503 well inside GitHub's
 * 10 seconds, not hang for the driver's default 30. TLS follows the URL's sslmode (remote hosts
 * default to TLS; see tls.ts).
 */
export function createPostgresDatabase(
  url: string,
  options: { max?: number; connectTimeoutSeconds?: number; statementTimeoutMs?: number } = {},
): PostgresDatabase {
  const prepare = preparesStatements(url);
  const sql = postgres(url, {
    ssl: postgresSsl(url),
    max: options.max ?? 4,
    connect_timeout: options.connectTimeoutSeconds ?? 3,
    idle_timeout: 20,
    prepare,
    onnotice: () => {},
    // Every queue function is a short statement; one stuck on a lock must fail, not hang.
    connection: { statement_timeout: options.statementTimeoutMs ?? 10_000 },
    // Retry a lost server quickly (the default backs off up to 20 s, during which every query
    // waits): the receive path must answer within its budget and recover as soon as it can.
    backoff: (attempts: number) => Math.min(0.1 * attempts, 1),
  });
  // unsafe() prepares nothing unless asked, whatever the pool's own setting.
  const db = createSqlDatabase(async (text, params) => [
    ...(await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare })),
  ]);
  return { call: db.call, close: () => sql.end({ timeout: 5 }) };
}
