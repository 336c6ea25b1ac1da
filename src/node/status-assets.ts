/**
 * The status page's chart library: uPlot, installed from npm (package.json pins it) and served
 * from our own origin, never a CDN. The local stack serves these files straight from
 * node_modules; a Netlify build copies them into public/vendor/ (`npm run build:status`, part of
 * netlify.toml's build command), so public/ never holds a second, drifting copy in git.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from './migrations.ts';

export const PUBLIC_DIR = join(PROJECT_ROOT, 'public');

const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot/package.json'));

/** URL path under the site root → the installed file it is. */
export const VENDOR_ASSETS: Readonly<Record<string, string>> = {
  '/vendor/uPlot.iife.min.js': join(uplotDir, 'dist/uPlot.iife.min.js'),
  '/vendor/uPlot.min.css': join(uplotDir, 'dist/uPlot.min.css'),
  // MIT: the licence travels with the copy.
  '/vendor/uPlot.LICENSE.txt': join(uplotDir, 'LICENSE'),
};

/** Copies the vendor files under `publicDir` (the Netlify publish directory); returns what was written. */
export function copyVendorAssets(publicDir = PUBLIC_DIR): string[] {
  return Object.entries(VENDOR_ASSETS).map(([path, source]) => {
    const target = join(publicDir, path);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(source, target);
    return target;
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const file of copyVendorAssets()) console.log(`copied ${file.slice(PROJECT_ROOT.length + 1)}`);
}
