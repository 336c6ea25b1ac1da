import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname } from 'node:path';
import { loadConfig, type EnvRecord } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { createDrainHandler } from '../../shared/drain/service.ts';
import type { OutgoingEvent } from '../../shared/inngest/events.ts';
import { createInngestSender } from '../../shared/inngest/sdk-sender.ts';
import { createRecordingSender, type EventSender } from '../../shared/inngest/sender.ts';
import { answer } from '../../shared/receive/respond.ts';
import { receiveWebhook, type ReceiveMode } from '../../shared/receive/receive.ts';
import { parsePositiveInt, parseVerbArgs, UsageError } from '../args.ts';
import { readStackFile, stackFilePath, type Verb, type VerbContext } from '../context.ts';
import { sendWebResponse, toWebRequest } from '../http-bridge.ts';
import type { LocalDatabase } from '../local-db.ts';
import { runVerbInStack } from '../main.ts';

const FETCH_FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
const HYBRID_PATH = '/.netlify/functions/api-workspaces-webhook-hybrid';
const SYNC_PATH = '/.netlify/functions/api-workspaces-webhook';
const DRAIN_PATH = '/functions/v1/process-webhook';

function logLine(entry: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
}

/** Without an Inngest key, events are kept in memory and logged: visible, never silently lost. */
function localSender(ctx: VerbContext): { sender: EventSender; recorded: OutgoingEvent[] | null } {
  const { eventKey, baseUrl } = ctx.config.inngest;
  if (eventKey) return { sender: createInngestSender({ eventKey, ...(baseUrl ? { baseUrl } : {}) }), recorded: null };
  const recording = createRecordingSender();
  return {
    recorded: recording.sent,
    sender: {
      async send(events) {
        await recording.send(events);
        const names = [...new Set(events.map((e) => e.name))];
        logLine({ msg: 'inngest events (recorded locally)', count: events.length, names, ids: events.slice(0, 3).map((e) => e.id) });
      },
    },
  };
}

/** A port from --port (a usage error) or PORT (a configuration error). */
function portOf(text: string | undefined, env: EnvRecord): number {
  const valid = (t: string) => /^\d+$/.test(t) && Number(t) >= 1 && Number(t) <= 65_535;
  if (text !== undefined) {
    if (!valid(text)) throw new UsageError(`--port must be a port number from 1 to 65535, got "${text}"`);
    return Number(text);
  }
  const raw = env.PORT?.trim();
  if (!raw) return 8888;
  if (!valid(raw)) throw new ConfigError('PORT', `must be a port number from 1 to 65535, got "${raw}"`);
  return Number(raw);
}

export const start: Verb = {
  usage: `webhook-router start [--port N] [--drain-interval SECONDS]

Runs the whole system locally on one HTTP server (--port, else PORT, else 8888):
  POST /.netlify/functions/api-workspaces-webhook-hybrid   the hybrid receiver
  POST /.netlify/functions/api-workspaces-webhook          the original synchronous receiver
  POST /functions/v1/process-webhook                       the drain (Bearer PROCESS_WEBHOOK_SECRET)
Uses DATABASE_URL when set, else PGlite under $WEBHOOK_ROUTER_DATA_DIR (default ./.data).
Drains on every kick and every --drain-interval seconds (default 60). Stops on SIGINT or SIGTERM.`,

  async run(argv, ctx) {
    const { values } = parseVerbArgs(argv, {
      port: { type: 'string' },
      'drain-interval': { type: 'string' },
    });
    const port = portOf(values.port, ctx.env);
    const intervalMs = parsePositiveInt(values['drain-interval'] ?? '60', '--drain-interval') * 1000;

    // One stack per data dir: a second one would open the same PGlite files from another process.
    const stackFile = stackFilePath(ctx.env);
    const running = readStackFile(ctx.env);
    if (running) {
      throw new Error(`a local stack already runs from ${dirname(stackFile)} (pid ${running.pid}, ${running.url}); stop it first`);
    }

    // Development defaults: a generated secret (printed) and a drain token, never in production.
    const devSecret = ctx.config.githubWebhookSecrets.length ? null : randomBytes(16).toString('hex');
    const drainSecret = ctx.config.drain.secret ?? randomBytes(16).toString('hex');
    const config = loadConfig({
      ...ctx.env,
      ...(devSecret ? { GITHUB_WEBHOOK_SECRET: devSecret } : {}),
      PROCESS_WEBHOOK_SECRET: drainSecret,
    });

    const adminToken = randomBytes(16).toString('hex');
    const base = `http://127.0.0.1:${port}`;
    const writeStack = (ready: boolean) =>
      writeFileSync(
        stackFile,
        JSON.stringify({ pid: process.pid, url: base, ready, devSecret, adminToken, database: ctx.config.database.kind === 'postgres' ? 'postgres' : 'pglite' }, null, 2),
        { mode: 0o600 },
      );
    const removeStack = () => {
      if (readStackFile(ctx.env)?.pid === process.pid) rmSync(stackFile, { force: true });
    };

    let database: LocalDatabase | null = null;
    const server = createServer();
    const inFlight = new Set<Promise<unknown>>();
    const track = (work: Promise<unknown>) => {
      inFlight.add(work);
      void work.catch(() => {}).finally(() => inFlight.delete(work));
    };
    let timer: ReturnType<typeof setInterval> | undefined;

    // Stop requests that arrive while booting are honoured once the stack is up.
    let requestStop: (signal: string) => void = () => {};
    const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
    const onSignal = (signal: NodeJS.Signals) => requestStop(signal);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      // Claim the data dir before opening PGlite: other verbs wait for this stack instead of
      // opening the same embedded database from a second process.
      mkdirSync(dirname(stackFile), { recursive: true });
      writeStack(false);
      const db = await ctx.database();
      database = db;
      // PGlite was migrated when opened; Postgres is migrated here, with the Supabase CLI.
      const migration = db.migratedOnOpen ?? (await db.migrate());
      delete db.migratedOnOpen;
      const { sender, recorded } = localSender(ctx);
      const drainHandler = createDrainHandler(config, { db: db.db, sender, log: logLine });
      const drainUrl = `${base}${DRAIN_PATH}`;
      const authorized = (body: unknown) =>
        new Request(drainUrl, {
          method: 'POST',
          headers: { authorization: `Bearer ${drainSecret}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      // The kick and the timer call the same drain handler the Edge Function runs.
      const kickDrain = async () => {
        await drainHandler(authorized({}));
      };
      // Forwarded verbs run against this stack's database, which they must not close.
      const stackCtx: VerbContext = { ...ctx, database: async () => db, close: async () => {} };

      const receive = (request: Request, mode: ReceiveMode) =>
        receiveWebhook(request, {
          config,
          mode,
          db: db.db,
          sender,
          kickDrain,
          waitUntil: track,
          log: logLine,
        });

      server.on('request', async (req, res) => {
        try {
          if (FETCH_FORBIDDEN_METHODS.has((req.method ?? '').toUpperCase())) {
            // A Fetch Request cannot carry these methods, so answer before building one.
            const delivery = req.headers['x-github-delivery'];
            const body = { error: `Method ${req.method} is not allowed.` };
            await sendWebResponse(res, answer(405, typeof delivery === 'string' ? delivery : null, body, { allow: 'POST' }));
            return;
          }
          const request = await toWebRequest(req, base);
          const path = new URL(request.url).pathname;
          const admin = request.headers.get('authorization') === `Bearer ${adminToken}`;
          let response: Response;
          if (path === HYBRID_PATH) response = await receive(request, 'hybrid');
          else if (path === SYNC_PATH) response = await receive(request, 'sync');
          else if (path === DRAIN_PATH) response = await drainHandler(request);
          else if (path === '/_local/events' && admin) {
            response = Response.json({ events: recorded ?? [] });
          } else if (path === '/_local/cli' && admin && request.method === 'POST') {
            const body = (await request.json().catch(() => null)) as { argv?: unknown; env?: unknown } | null;
            const verbArgv = body?.argv;
            if (!Array.isArray(verbArgv) || !verbArgv.every((a) => typeof a === 'string')) {
              response = Response.json({ error: 'argv must be an array of strings' }, { status: 400 });
            } else {
              const env = typeof body?.env === 'object' && body.env !== null ? (body.env as EnvRecord) : {};
              response = Response.json(await runVerbInStack(verbArgv, stackCtx, env));
            }
          } else response = answer(404, null, { error: `No function at ${path}` });
          await sendWebResponse(res, response);
        } catch (error) {
          logLine({ msg: 'unhandled error', error: String(error) });
          res.statusCode = 500;
          res.end(JSON.stringify({ ok: false, error: 'internal error' }));
        }
      });

      await new Promise<void>((resolve, reject) => {
        server.once('error', (error) => reject(new Error(`cannot listen on port ${port}: ${error.message}`)));
        server.listen(port, '127.0.0.1', resolve);
      });
      writeStack(true);

      // One timed drain at a time; a kick may still run beside it (leases keep them apart).
      let timed: Promise<unknown> | null = null;
      timer = setInterval(() => {
        if (timed) return;
        timed = drainHandler(authorized({}))
          .catch((error) => logLine({ msg: 'timed drain failed', error: String(error) }))
          .finally(() => (timed = null));
        track(timed);
      }, intervalMs);

      ctx.out(
        [
          '',
          'webhook-router local stack',
          `  hybrid receiver   ${base}${HYBRID_PATH}`,
          `  original receiver ${base}${SYNC_PATH}`,
          `  drain             ${base}${DRAIN_PATH}  (every ${intervalMs / 1000}s and on every kick)`,
          `  database          ${db.description} (${migration})`,
          `  inngest           ${config.inngest.eventKey ? `sending to ${config.inngest.baseUrl ?? 'Inngest Cloud'}` : 'no INNGEST_EVENT_KEY: events recorded locally and logged'}`,
          devSecret
            ? `  webhook secret    generated for development: ${devSecret}`
            : '  webhook secret    from GITHUB_WEBHOOK_SECRET',
          `  try it            npx webhook-router seed --repo acme/widgets --workspaces 12`,
          `                    npx webhook-router send push --repo acme/widgets`,
          '',
        ].join('\n'),
      );

      const signal = await stopRequested;
      logLine({ msg: 'stopping', signal });
      return 0;
    } finally {
      // Stop taking requests, let the ones under way and the drains finish, then close the database.
      clearInterval(timer);
      if (server.listening) {
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => server.closeAllConnections(), 5_000);
          server.close(() => {
            clearTimeout(force);
            resolve();
          });
        });
      }
      await Promise.allSettled([...inFlight]);
      removeStack();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await database?.close().catch(() => {});
    }
  },
};
