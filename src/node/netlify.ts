import { loadConfig, type Config, type EnvRecord } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { answer } from '../shared/receive/respond.ts';
import { receiveWebhook, type ReceiveMode } from '../shared/receive/receive.ts';
import { sha256HexNode } from './hash.ts';
import { createRuntime, type Runtime } from './runtime.ts';

interface NetlifyContext {
  waitUntil?: (promise: Promise<unknown>) => void;
}

declare const Netlify: { env: { toObject(): EnvRecord } } | undefined;

export function readEnv(): EnvRecord {
  return typeof Netlify !== 'undefined' ? { ...process.env, ...Netlify.env.toObject() } : process.env;
}

// One runtime per function instance: warm invocations reuse the database pool and client.
let cached: { config: Config; runtime: Runtime } | null = null;

export function logLine(entry: Record<string, unknown>): void {
  console.log(JSON.stringify({ at: new Date().toISOString(), ...entry }));
}

/** The Netlify entrypoints' whole body: environment → adapters → the shared receive core. */
export async function handleNetlifyRequest(request: Request, context: NetlifyContext, mode: ReceiveMode): Promise<Response> {
  const deliveryId = request.headers.get('x-github-delivery');
  if (request.method !== 'POST') {
    return answer(405, deliveryId, { error: `Method ${request.method} is not allowed; GitHub delivers with POST.` }, { allow: 'POST' });
  }
  if (!cached) {
    try {
      const config = loadConfig(readEnv());
      cached = { config, runtime: createRuntime(config) };
      for (const warning of config.warnings) logLine({ msg: 'configuration warning', warning });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      logLine({ msg: 'configuration error', variable: error.variable, error: error.message });
      // The answer names the variable only; the log has the rule it broke.
      return answer(500, deliveryId, { error: `Configuration error: ${error.variable}` });
    }
  }
  const { config, runtime } = cached;
  return receiveWebhook(request, {
    config,
    mode,
    db: runtime.db,
    sender: runtime.sender,
    ...(runtime.kickDrain ? { kickDrain: runtime.kickDrain } : {}),
    ...(context.waitUntil ? { waitUntil: (p: Promise<unknown>) => context.waitUntil?.(p) } : {}),
    hashBody: sha256HexNode,
    log: logLine,
  });
}
