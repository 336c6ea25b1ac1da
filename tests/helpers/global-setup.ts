import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { migratePostgres } from '../../src/node/migrations.ts';
import { TEMPLATE_DATABASE, adminUrl, withDatabase } from './pg-urls.ts';

/**
 * Real Postgres: migrate one template database with the real Supabase CLI (about 2 s), then every
 * test file clones it (CREATE DATABASE … TEMPLATE), so each file gets its own database through the
 * real migration files without paying for the CLI again.
 */
export default async function setup(project: TestProject): Promise<void> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    console.log('[tests] DATABASE_URL is not set: running on PGlite; multi-connection tests are skipped.');
    return;
  }
  const admin = postgres(adminUrl(base), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists ${TEMPLATE_DATABASE} with (force)`);
    await admin.unsafe(`create database ${TEMPLATE_DATABASE}`);
  } finally {
    await admin.end();
  }
  await migratePostgres(withDatabase(base, TEMPLATE_DATABASE));
  project.provide('templateDatabase', TEMPLATE_DATABASE);
}

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}
