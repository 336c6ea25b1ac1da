import { createClient } from '@supabase/supabase-js';
import type { Config } from '../shared/config.ts';
import type { Database } from '../shared/db/port.ts';
import { createPostgresDatabase } from '../shared/db/postgres.ts';
import { createRpcDatabase } from '../shared/db/rpc.ts';
import { createDrainKicker } from '../shared/drain/kick.ts';
import { senderFromConfig } from '../shared/inngest/from-config.ts';
import type { EventSender } from '../shared/inngest/sender.ts';

export interface Runtime {
  db: Database | null;
  sender: EventSender;
  kickDrain: (() => Promise<void>) | undefined;
  close(): Promise<void>;
}

export function createDatabase(config: Config): { db: Database | null; close(): Promise<void> } {
  const { database } = config;
  if (database.kind === 'postgres') {
    const db = createPostgresDatabase(database.url);
    return { db, close: db.close };
  }
  if (database.kind === 'rpc') {
    const client = createClient(database.supabaseUrl, database.serviceRoleKey, {
      auth: { persistSession: false, autoRefreshToken: false },
    });
    return { db: createRpcDatabase(client), close: async () => {} };
  }
  return { db: null, close: async () => {} };
}

/** The adapters a deployed Netlify function uses, built from validated configuration. */
export function createRuntime(config: Config): Runtime {
  const { db, close } = createDatabase(config);
  return {
    db,
    sender: senderFromConfig(config),
    // The drain accepts the service role key too, so a deployment without PROCESS_WEBHOOK_SECRET still kicks.
    kickDrain: config.drain.url
      ? createDrainKicker({ url: config.drain.url, secret: config.drain.secret ?? config.serviceRoleKey })
      : undefined,
    close,
  };
}
