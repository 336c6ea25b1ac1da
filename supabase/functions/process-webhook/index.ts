// Supabase Edge Function (Deno): drains background_jobs within the function's budget.
// Deployed with --no-verify-jwt; the handler checks `Authorization: Bearer` itself.
import { loadConfig } from '../../../src/shared/config.ts';
import { ConfigError } from '../../../src/shared/errors.ts';
import { createPostgresDatabase } from '../../../src/shared/db/postgres.ts';
import { createDrainKicker } from '../../../src/shared/drain/kick.ts';
import { createDrainHandler } from '../../../src/shared/drain/service.ts';
import { createEventApiSender } from '../../../src/shared/inngest/event-api-sender.ts';
import { configuredSender } from '../../../src/shared/inngest/sender.ts';

const config = loadConfig(Deno.env.toObject());
if (config.database.kind !== 'postgres') {
  // Supabase always provides SUPABASE_DB_URL to Edge Functions; elsewhere set DATABASE_URL.
  throw new ConfigError('SUPABASE_DB_URL', 'is required (or DATABASE_URL): the drain talks to Postgres directly');
}

// Supabase's runtime keeps a promise handed to EdgeRuntime.waitUntil running after the answer.
declare const EdgeRuntime: { waitUntil(work: Promise<unknown>): void } | undefined;
const edgeRuntime = typeof EdgeRuntime === 'undefined' ? undefined : EdgeRuntime;

const log = (entry: Record<string, unknown>) => console.log(JSON.stringify({ at: new Date().toISOString(), ...entry }));
// A drain that stops at DRAIN_MAX_JOBS (Supabase's 2 s of CPU per request) starts the next one.
const kick = config.drain.url ? createDrainKicker({ url: config.drain.url, secret: config.drain.secret ?? config.serviceRoleKey }) : null;

const handler = createDrainHandler(config, {
  db: createPostgresDatabase(config.database.url, { max: 4 }),
  // The Event API over fetch, not the SDK: the SDK's dependencies exceed Supabase's bundle limit.
  sender: configuredSender(config, createEventApiSender),
  log,
  ...(edgeRuntime ? { waitUntil: (work: Promise<unknown>) => edgeRuntime.waitUntil(work) } : {}),
  ...(kick ? { handOver: () => kick().catch((error: unknown) => log({ msg: 'drain hand-over failed', error: String(error) })) } : {}),
});

// PROCESS_WEBHOOK_PORT is for running the function outside Supabase (tests, self-hosting).
const port = Deno.env.get('PROCESS_WEBHOOK_PORT');
Deno.serve(port ? { port: Number(port), hostname: '127.0.0.1' } : {}, handler);
