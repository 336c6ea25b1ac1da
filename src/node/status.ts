import { loadConfig } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { createStatusHandler } from '../shared/status/handler.ts';
import { logLine, readEnv } from './netlify.ts';
import { createDatabase } from './runtime.ts';

// One handler per function instance: warm invocations reuse the database pool or client.
let cached: ((request: Request) => Promise<Response>) | null = null;

/** The status function's whole body: environment → database → the shared status handler. */
export async function handleStatusRequest(request: Request): Promise<Response> {
  if (!cached) {
    try {
      const config = loadConfig(readEnv());
      cached = createStatusHandler({ token: config.statusPageToken, db: createDatabase(config).db, log: logLine });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      logLine({ msg: 'configuration error', variable: error.variable, error: error.message });
      return Response.json({ error: `Configuration error: ${error.variable}` }, { status: 500, headers: { 'cache-control': 'no-store' } });
    }
  }
  return cached(request);
}
