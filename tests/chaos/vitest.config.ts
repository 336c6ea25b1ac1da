// The reliability suite (`npm run test:chaos`): a separate vitest run over tests/chaos/**/*.chaos.ts,
// so `npm test` never picks these up. Needs DATABASE_URL (real PostgreSQL); CHAOS_SCALE scales the
// load (1 = full, 0.1 = the reduced CI run). Files run one at a time: each starts processes and
// loads the 2 cores on its own.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../../', import.meta.url)),
  test: {
    include: ['tests/chaos/**/*.chaos.ts'],
    globalSetup: ['tests/chaos/require-database.ts', 'tests/helpers/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 15 * 60_000,
    hookTimeout: 3 * 60_000,
    teardownTimeout: 60_000,
    reporters: ['default'],
  },
});
