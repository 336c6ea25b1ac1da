import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { adminUrl, withDatabase } from './pg-urls.ts';
import { migrateWithSupabaseCli } from './supabase-cli.ts';

/**
 * Real Postgres: migrate one template database with the real Supabase CLI (about 2 s), then every
 * test file clones it (CREATE DATABASE … TEMPLATE), so each file gets its own database through the
 * real migration files without paying for the CLI again.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    console.log('[tests] DATABASE_URL is not set: running on PGlite; multi-connection tests are skipped.');
    return async () => {};
  }
  // One template per run, so two runs on one server never drop each other's template.
  const template = `webhook_router_template_${process.pid}`;
  const admin = postgres(adminUrl(base), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists ${template} with (force)`);
    await admin.unsafe(`create database ${template}`);
  } finally {
    await admin.end();
  }
  await migrateWithSupabaseCli(withDatabase(base, template));
  project.provide('templateDatabase', template);
  return async () => {
    const cleanup = postgres(adminUrl(base), { max: 1, onnotice: () => {} });
    await cleanup.unsafe(`drop database if exists ${template} with (force)`).catch(() => {});
    await cleanup.end();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}
