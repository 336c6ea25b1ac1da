// What a DENO_DIR's npm cache holds: the packages Deno resolved for a program, and their weight.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface NpmCache {
  /** `name@version`, sorted. */
  packages: string[];
  /** Files and bytes of the packages themselves (not the registry metadata Deno keeps beside them). */
  files: number;
  bytes: number;
}

async function weigh(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const inner = await weigh(path);
      files += inner.files;
      bytes += inner.bytes;
    } else {
      files += 1;
      bytes += (await lstat(path)).size;
    }
  }
  return { files, bytes };
}

async function dirs(dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
}

/** Reads `<denoDir>/npm/<registry>/<name or @scope/name>/<version>/` for every registry. */
export async function readNpmCache(denoDir: string): Promise<NpmCache> {
  const root = join(denoDir, 'npm');
  const cache: NpmCache = { packages: [], files: 0, bytes: 0 };
  const registries = await dirs(root).catch(() => []);
  for (const registry of registries) {
    const names: string[] = [];
    for (const name of await dirs(join(root, registry))) {
      if (name.startsWith('@')) names.push(...(await dirs(join(root, registry, name))).map((inner) => `${name}/${inner}`));
      else names.push(name);
    }
    for (const name of names) {
      for (const version of await dirs(join(root, registry, name))) {
        const weight = await weigh(join(root, registry, name, version));
        cache.packages.push(`${name}@${version}`);
        cache.files += weight.files;
        cache.bytes += weight.bytes;
      }
    }
  }
  cache.packages.sort();
  return cache;
}

export const MiB = 1024 * 1024;
