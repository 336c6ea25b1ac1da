import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/node/migrations.ts';

const read = (path: string) => JSON.parse(readFileSync(join(PROJECT_ROOT, path), 'utf8'));

describe('pinned versions', () => {
  const pkg = read('package.json');
  const lock = read('package-lock.json');
  // What `supabase functions deploy` uploads with the function, and what the local Deno runs use.
  const uploaded = read('supabase/functions/process-webhook/deno.json');
  const local = read('tests/deno/deno.json');

  it.each([
    ['supabase/functions/process-webhook/deno.json', uploaded],
    ['tests/deno/deno.json', local],
  ])('%s imports exactly the npm versions package.json pins, and nothing remote', (_file, deno) => {
    const entries = Object.entries(deno.imports as Record<string, string>);
    expect(entries.length).toBeGreaterThan(0);
    for (const [name, specifier] of entries) {
      const match = /^npm:(@?[^@]+)@(.+)$/.exec(specifier);
      expect(match, `${name} → ${specifier}`).not.toBeNull();
      const [, pkgName, version] = match as RegExpExecArray;
      expect(pkgName).toBe(name);
      expect(pkg.dependencies[name], `${name} is a dependency`).toBe(version);
      expect(lock.packages[`node_modules/${name}`]?.version).toBe(version);
    }
    expect(JSON.stringify(deno)).not.toMatch(/jsr:|https?:\/\//);
  });

  it('the uploaded config lets the edge runtime fetch npm packages itself, and maps only what the drain imports', () => {
    // "manual" would make the edge runtime look for a node_modules directory the upload does not have.
    expect(uploaded).not.toHaveProperty('nodeModulesDir');
    expect(Object.keys(uploaded.imports)).toEqual(['postgres']);
  });

  it('the local Deno runs resolve from the installed node_modules (no registry needed)', () => {
    expect(local.nodeModulesDir).toBe('manual');
    expect(pkg.scripts['test:deno']).toContain('--config tests/deno/deno.json');
    expect(pkg.scripts['test:deno']).not.toContain('supabase/functions/process-webhook/deno.json');
  });

  it('dependencies are pinned exactly (the lock file is the source of truth)', () => {
    for (const [name, version] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      expect(version, name).toMatch(/^\d+\.\d+\.\d+/);
    }
    expect(pkg.dependencies.supabase).toBe('2.117.0');
  });
});
