import type { Database } from '../db/port.ts';
import { isAuthorized } from '../drain/auth.ts';
import { DatabaseUnavailableError, errorMessage } from '../errors.ts';

/** The windows the status page offers; the SQL function defines the same three. */
export const STATUS_WINDOWS = ['1h', '24h', '7d'] as const;
export type StatusWindow = (typeof STATUS_WINDOWS)[number];
export const DEFAULT_STATUS_WINDOW: StatusWindow = '24h';

export interface StatusDeps {
  /** STATUS_PAGE_TOKEN; null refuses every request (fail closed). */
  token: string | null;
  /** Null when no database is configured. */
  db: Database | null;
  log?: (entry: Record<string, unknown>) => void;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return Response.json(body, {
    status,
    // Live operational data behind a token: never cached by a browser or a CDN.
    headers: { 'cache-control': 'no-store', ...headers },
  });
}

/** `?window=` → a window, or the reason it is not one. */
export function parseWindow(url: URL): StatusWindow | { error: string } {
  const values = url.searchParams.getAll('window');
  if (values.length === 0) return DEFAULT_STATUS_WINDOW;
  const [value] = values;
  if (values.length === 1 && (STATUS_WINDOWS as readonly string[]).includes(value as string)) return value as StatusWindow;
  return { error: `window must be one of ${STATUS_WINDOWS.join(', ')} (default ${DEFAULT_STATUS_WINDOW})` };
}

/**
 * GET → the status page's JSON for a window, from public.webhook_status_page. Requires
 * `Authorization: Bearer <STATUS_PAGE_TOKEN>`, compared in constant time.
 */
export function createStatusHandler(deps: StatusDeps): (request: Request) => Promise<Response> {
  const log = deps.log ?? (() => {});
  return async (request) => {
    if (request.method !== 'GET') {
      return json(405, { error: `Method ${request.method} is not allowed; use GET.` }, { allow: 'GET' });
    }
    if (!deps.token) {
      return json(500, { error: 'STATUS_PAGE_TOKEN is not set: the status endpoint refuses every request until it is.' });
    }
    if (!(await isAuthorized(request, [deps.token]))) {
      return json(401, { error: 'Wrong or missing token: send Authorization: Bearer <STATUS_PAGE_TOKEN>.' }, {
        'www-authenticate': 'Bearer realm="webhook-router status"',
      });
    }
    const window = parseWindow(new URL(request.url));
    if (typeof window !== 'string') return json(400, { error: window.error });
    if (!deps.db) {
      return json(500, { error: 'No database configured: set DATABASE_URL, or VITE_SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY.' });
    }
    try {
      const [row] = await deps.db.call<{ webhook_status_page: unknown }>('webhook_status_page', { p_window: window });
      if (!row?.webhook_status_page) throw new Error('webhook_status_page returned nothing');
      return json(200, row.webhook_status_page);
    } catch (error) {
      log({ msg: 'status page query failed', window, error: errorMessage(error) });
      // The details stay in the log: a driver message may name hosts or users.
      if (error instanceof DatabaseUnavailableError) return json(503, { error: 'The database is unavailable; try again shortly.' });
      return json(500, { error: 'The status query failed; the server log has the details.' });
    }
  };
}
