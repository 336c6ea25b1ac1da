import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/node/migrations.ts';

const read = (path: string) => JSON.parse(readFileSync(join(PROJECT_ROOT, path), 'utf8'));

describe('pinned versions', () => {
  const pkg = read('package.json');
  const lock = read('package-lock.json');
  const deno = read('supabase/functions/process-webhook/deno.json');

  it('the Edge Function imports exactly the npm versions package.json pins', () => {
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
  });

  it('the Edge Function config resolves from node_modules and allows no remote imports', () => {
    expect(deno.nodeModulesDir).toBe('manual');
    expect(JSON.stringify(deno)).not.toMatch(/jsr:|https?:\/\//);
  });

  it('dependencies are pinned exactly (the lock file is the source of truth)', () => {
    for (const [name, version] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      expect(version, name).toMatch(/^\d+\.\d+\.\d+/);
    }
    expect(pkg.dependencies.supabase).toBe('2.117.0');
  });
});
