import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { loadConfig, type Config, type EnvRecord } from '../../shared/config.ts';
import { createDrainHandler } from '../../shared/drain/service.ts';
import { ConfigError } from '../../shared/errors.ts';
import { sha256HexNode } from '../../node/hash.ts';
import { receiveWebhook } from '../../shared/receive/receive.ts';
import { parsePositiveInt, parseVerbArgs, UsageError } from '../args.ts';
import type { Verb, VerbContext } from '../context.ts';
import { runVerbInStack } from '../forwarded.ts';
import type { LocalDatabase } from '../local-db.ts';
import { banner } from '../stack/banner.ts';
import { startDrainTimer } from '../stack/drain-timer.ts';
import { backgroundWork, stopSignals } from '../stack/lifecycle.ts';
import { localSender } from '../stack/local-sender.ts';
import { logLine } from '../stack/log.ts';
import { DRAIN_PATH } from '../stack/paths.ts';
import { stackHandler } from '../stack/routes.ts';
import { listenStack, type StackServer } from '../stack/server.ts';
import { readStackFile, removeStackFile, stackFilePath, writeStackFile, type StackFile } from '../stack/stack-file.ts';
import { createLocalStatusPage } from '../status-page.ts';

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

/** Development defaults: a generated webhook secret (printed) and drain token, never in production. */
function developmentConfig(ctx: VerbContext): { config: Config; devSecret: string | null; drainSecret: string } {
  const devSecret = ctx.config.githubWebhookSecrets.length ? null : randomBytes(16).toString('hex');
  const drainSecret = ctx.config.drain.secret ?? randomBytes(16).toString('hex');
  const config = loadConfig({ ...ctx.env, ...(devSecret ? { GITHUB_WEBHOOK_SECRET: devSecret } : {}), PROCESS_WEBHOOK_SECRET: drainSecret });
  return { config, devSecret, drainSecret };
}

export const start: Verb = {
  usage: `webhook-router start [--port N] [--drain-interval SECONDS]

Runs the whole system locally on one HTTP server (--port, else PORT, else 8888):
  POST /.netlify/functions/api-workspaces-webhook-hybrid   the hybrid receiver
  POST /.netlify/functions/api-workspaces-webhook          the original synchronous receiver
  POST /functions/v1/process-webhook                       the drain (Bearer PROCESS_WEBHOOK_SECRET)
  GET  /status                                             the status page (Bearer STATUS_PAGE_TOKEN)
Uses DATABASE_URL when set, else PGlite under $WEBHOOK_ROUTER_DATA_DIR (default ./.data).
Drains on every kick and every --drain-interval seconds (default 60). Stops on SIGINT or SIGTERM.`,

  async run(argv, ctx) {
    const { values } = parseVerbArgs(argv, { port: { type: 'string' }, 'drain-interval': { type: 'string' } });
    const port = portOf(values.port, ctx.env);
    const intervalMs = parsePositiveInt(values['drain-interval'] ?? '60', '--drain-interval') * 1000;
    // One stack per data dir: a second one would open the same PGlite files from another process.
    const running = readStackFile(ctx.env);
    if (running) {
      throw new Error(`a local stack already runs from ${dirname(stackFilePath(ctx.env))} (pid ${running.pid}, ${running.url}); stop it first`);
    }
    const { config, devSecret, drainSecret } = developmentConfig(ctx);
    for (const warning of config.warnings) ctx.err(`warning: ${warning}`);
    const base = `http://127.0.0.1:${port}`;
    const adminToken = randomBytes(16).toString('hex');
    const stackFile = (ready: boolean): StackFile => ({
      pid: process.pid,
      url: base,
      ready,
      devSecret,
      adminToken,
      database: ctx.config.database.kind === 'postgres' ? 'postgres' : 'pglite',
    });
    const work = backgroundWork();
    const signals = stopSignals();
    let database: LocalDatabase | undefined;
    let server: StackServer | undefined;
    let timer: { stop(): void } | undefined;
    try {
      // Claim the data dir before opening PGlite: other verbs wait for this stack instead of
      // opening the same embedded database from a second process.
      writeStackFile(ctx.env, stackFile(false));
      const db = (database = await ctx.database());
      // PGlite was migrated when opened; Postgres is migrated here.
      const migration = db.migratedOnOpen ?? (await db.migrate());
      delete db.migratedOnOpen;
      const { sender, recorded } = localSender(config);
      // The kick, the timer and POST /functions/v1/process-webhook all call the Edge Function's handler.
      const drain = createDrainHandler(config, {
        db: db.db,
        sender,
        log: logLine,
        // A drain that stops at DRAIN_MAX_JOBS starts the next one, as the Edge Function does.
        handOver: async () => work.track(drainNow({})),
      });
      const drainNow = (body: { jobId?: string }) =>
        drain(
          new Request(`${base}${DRAIN_PATH}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${drainSecret}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          }),
        );
      const status = createLocalStatusPage(config, db.db);
      // Forwarded verbs run against this stack's database, which they must not close.
      const stackCtx: VerbContext = { ...ctx, database: async () => db, close: async () => {}, recordedEvents: async () => recorded };
      server = await listenStack(
        port,
        config.maxBodyBytes,
        stackHandler({
          receive: (request, mode) =>
            receiveWebhook(request, {
              config,
              mode,
              db: db.db,
              sender,
              kickDrain: async () => void (await drainNow({})),
              waitUntil: work.track,
              hashBody: sha256HexNode,
              log: logLine,
            }),
          drain,
          runVerb: (verbArgv, env) => runVerbInStack(verbArgv, stackCtx, env),
          recorded,
          adminToken,
          status,
        }),
      );
      writeStackFile(ctx.env, stackFile(true));
      timer = startDrainTimer(() => drainNow({}), intervalMs, work.track);
      const inngest = config.inngest.eventKey ? { sendTo: config.inngest.baseUrl ?? null } : 'recorded';
      ctx.out(banner({ base, intervalMs, database: db.description, migration, inngest, devSecret, status: status.banner(base) }));

      logLine({ msg: 'stopping', signal: await signals.requested });
      return 0;
    } finally {
      // Stop taking requests, let the ones under way and the drains finish, then close the database.
      timer?.stop();
      await server?.close();
      await work.settled();
      removeStackFile(ctx.env);
      signals.dispose();
      await database?.close().catch(() => {});
    }
  },
};
