// The real Supabase CLI (npm supabase@2.117.0) applying supabase/migrations, exactly as
// `supabase db push` does: the test suite's template database is migrated this way, which proves
// the files work with the Supabase CLI too (the product's own path is `webhook-router migrate`).
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../src/node/migrations.ts';
import { redactCredentials } from '../../src/shared/db/redact.ts';
import { isLoopbackHost } from '../../src/shared/db/tls.ts';

const CLI = join(dirname(createRequire(import.meta.url).resolve('supabase/package.json')), 'dist', 'supabase.js');

/**
 * `supabase migration up --db-url <url without password>` with the password in PGPASSWORD (the
 * CLI honours it), so it is never on a command line `ps` shows. The CLI requires TLS unless told
 * otherwise: a loopback server without sslmode gets sslmode=disable, a remote one keeps TLS.
 * Resolves to the CLI's progress (stderr) then verdict (stdout); errors never repeat the password.
 */
export async function migrateWithSupabaseCli(databaseUrl: string): Promise<string> {
  const url = new URL(databaseUrl);
  const password = decodeURIComponent(url.password);
  url.password = '';
  if (!url.searchParams.has('sslmode') && isLoopbackHost(url.hostname)) url.searchParams.set('sslmode', 'disable');
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [CLI, 'migration', 'up', '--db-url', url.toString(), '--workdir', PROJECT_ROOT],
      {
        timeout: 120_000,
        env: { ...process.env, DO_NOT_TRACK: '1', SUPABASE_TELEMETRY_DISABLED: '1', ...(password ? { PGPASSWORD: password } : {}) },
      },
    );
    return `${stderr}${stdout}`;
  } catch (error) {
    const { stderr = '' } = error as { stderr?: string };
    throw new Error(redactCredentials(`supabase migration up failed: ${stderr.trim() || (error as Error).message}`, [databaseUrl]));
  }
}
