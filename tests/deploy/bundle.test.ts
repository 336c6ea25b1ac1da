import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipFunctions } from '@netlify/zip-it-and-ship-it';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/node/migrations.ts';

let out: string | null = null;
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('Netlify bundle', () => {
  it('bundles both functions offline as v2 functions that include the shared core', async () => {
    out = await mkdtemp(join(tmpdir(), 'wr-zip-'));
    const results = await zipFunctions(join(PROJECT_ROOT, 'netlify/functions'), out, {
      basePath: PROJECT_ROOT,
      config: { '*': { nodeBundler: 'esbuild' } },
    });
    const byName = Object.fromEntries(results.map((r) => [r.name, r]));
    for (const name of ['api-workspaces-webhook-hybrid', 'api-workspaces-webhook']) {
      const fn = byName[name];
      expect(fn, name).toBeDefined();
      expect(fn?.runtimeAPIVersion).toBe(2);
      const inputs = (fn?.inputs ?? []).map((p) => p.slice(PROJECT_ROOT.length + 1));
      for (const file of ['src/shared/receive/receive.ts', 'src/shared/github/verify.ts', 'src/shared/routing/policy.ts', 'src/node/netlify.ts']) {
        expect(inputs, `${name} includes ${file}`).toContain(file);
      }
      // Node-only CLI code and tests must not ride along.
      expect(inputs.some((p) => p.startsWith('src/cli/') || p.startsWith('tests/'))).toBe(false);
    }
  }, 120_000);
});
