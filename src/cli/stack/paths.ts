/** Where the local stack serves what Netlify and Supabase serve in production. */
export const HYBRID_PATH = '/.netlify/functions/api-workspaces-webhook-hybrid';
export const SYNC_PATH = '/.netlify/functions/api-workspaces-webhook';
export const DRAIN_PATH = '/functions/v1/process-webhook';
/** Served to the CLI only, with the stack's admin token. */
export const LOCAL_CLI_PATH = '/_local/cli';
export const LOCAL_EVENTS_PATH = '/_local/events';
