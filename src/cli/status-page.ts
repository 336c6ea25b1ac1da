import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Config } from '../shared/config.ts';
import type { Database } from '../shared/db/port.ts';
import { createStatusHandler } from '../shared/status/handler.ts';
import { PUBLIC_DIR, VENDOR_ASSETS } from '../node/status-assets.ts';

export const STATUS_DATA_PATH = '/.netlify/functions/api-webhook-status';

/**
 * What Netlify serves from public/ for the page (status*.html|js|css, and /status, which Netlify
 * maps to status.html) plus the chart library, which Netlify serves from public/vendor/ after its
 * build copies it there.
 */
function pageFiles(): Readonly<Record<string, string>> {
  return {
    '/status': join(PUBLIC_DIR, 'status.html'),
    ...Object.fromEntries(
      readdirSync(PUBLIC_DIR)
        .filter((name) => /^status[\w-]*\.(html|js|css)$/.test(name))
        .map((name) => [`/${name}`, join(PUBLIC_DIR, name)]),
    ),
    ...VENDOR_ASSETS,
  };
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

export interface LocalStatusPage {
  /** STATUS_PAGE_TOKEN, or one generated for this run when it is unset. */
  token: string;
  tokenGenerated: boolean;
  handles(path: string): boolean;
  serve(request: Request): Promise<Response>;
  /** The local stack's banner lines for the page. */
  banner(base: string): string[];
}

/** The status page as the local stack serves it: the page, its chart library and its data endpoint. */
export function createLocalStatusPage(config: Config, db: Database): LocalStatusPage {
  // Like the webhook secret, a development token is generated (and printed) when none is set;
  // the deployed function has no such default and refuses instead.
  const token = config.statusPageToken ?? randomBytes(16).toString('hex');
  const data = createStatusHandler({ token, db });
  const files = pageFiles();
  return {
    token,
    tokenGenerated: !config.statusPageToken,
    handles: (path) => path === STATUS_DATA_PATH || path in files,
    async serve(request) {
      const path = new URL(request.url).pathname;
      if (path === STATUS_DATA_PATH) return data(request);
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } });
      }
      const file = files[path] as string;
      const body = await readFile(file);
      return new Response(request.method === 'HEAD' ? null : body, {
        headers: {
          'content-type': CONTENT_TYPES[extname(path) || extname(file)] ?? 'application/octet-stream',
          'content-length': String(body.byteLength),
          'cache-control': 'no-cache',
        },
      });
    },
    banner: (base) => [
      `  status page       ${base}/status`,
      `                    token: ${token}${config.statusPageToken ? ' (STATUS_PAGE_TOKEN)' : ' (generated; set STATUS_PAGE_TOKEN to choose one)'}`,
    ],
  };
}
