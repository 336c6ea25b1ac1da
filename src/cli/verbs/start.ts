import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname } from 'node:path';
import { loadConfig } from '../../shared/config.ts';
import { createDrainHandler } from '../../shared/drain/service.ts';
import type { OutgoingEvent } from '../../shared/inngest/events.ts';
import { createInngestSender, createRecordingSender, type EventSender } from '../../shared/inngest/sender.ts';
import { answer } from '../../shared/receive/respond.ts';
import { receiveWebhook, type ReceiveMode } from '../../shared/receive/receive.ts';
import { parsePositiveInt, parseVerbArgs, UsageError } from '../args.ts';
import { STACK_FILE, type Verb, type VerbContext } from '../context.ts';
import { sendWebResponse, toWebRequest } from '../http-bridge.ts';
import { runVerbInStack } from '../main.ts';

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

export const start: Verb = {
  usage: `webhook-router start [--port N] [--drain-interval SECONDS]

Runs the whole system locally on one HTTP server:
  POST /.netlify/functions/api-workspaces-webhook-hybrid   the hybrid receiver
  POST /.netlify/functions/api-workspaces-webhook          the original synchronous receiver
  POST /functions/v1/process-webhook                       the drain (Bearer PROCESS_WEBHOOK_SECRET)
Uses DATABASE_URL when set, else PGlite under .data/. Drains on every kick and on a timer.`,

  async run(argv, ctx) {
    const { values } = parseVerbArgs(argv, {
      port: { type: 'string' },
      'drain-interval': { type: 'string' },
    });
    const port = values.port ? parsePositiveInt(values.port, '--port') : Number(ctx.env.PORT ?? 8888);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`PORT must be a port number, got "${ctx.env.PORT}"`);
    const intervalMs = parsePositiveInt(values['drain-interval'] ?? '60', '--drain-interval') * 1000;

    // Development defaults: a generated secret (printed) and a drain token, never in production.
    const devSecret = ctx.config.githubWebhookSecrets.length ? null : randomBytes(16).toString('hex');
    const drainSecret = ctx.config.drain.secret ?? randomBytes(16).toString('hex');
    const config = loadConfig({
      ...ctx.env,
      ...(devSecret ? { GITHUB_WEBHOOK_SECRET: devSecret } : {}),
      PROCESS_WEBHOOK_SECRET: drainSecret,
    });

    // Claim .data/ before opening PGlite: other verbs wait for this stack instead of opening the
    // same embedded database from a second process.
    mkdirSync(dirname(STACK_FILE), { recursive: true });
    const adminToken = randomBytes(16).toString('hex');
    const base = `http://127.0.0.1:${port}`;
    const writeStack = (ready: boolean) =>
      writeFileSync(
        STACK_FILE,
        JSON.stringify({ pid: process.pid, url: base, ready, devSecret, adminToken, database: ctx.config.database.kind === 'postgres' ? 'postgres' : 'pglite' }, null, 2),
        { mode: 0o600 },
      );
    writeStack(false);
    const database = await ctx.database();
    const migration = await database.migrate();
    const { sender, recorded } = localSender(ctx);
    const drainHandler = createDrainHandler(config, { db: database.db, sender, log: logLine });
    const drainUrl = `http://127.0.0.1:${port}${DRAIN_PATH}`;
    const authorized = (body: unknown) =>
      new Request(drainUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${drainSecret}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // The kick and the timer call the same drain handler the Edge Function runs.
    const kickDrain = async (jobId: string) => {
      await drainHandler(authorized({ jobId }));
    };

    const receive = (request: Request, mode: ReceiveMode) =>
      receiveWebhook(request, {
        config,
        mode,
        db: database.db,
        sender,
        kickDrain,
        waitUntil: (p) => void p,
        log: logLine,
      });

    const server = createServer(async (req, res) => {
      try {
        const request = await toWebRequest(req, `http://127.0.0.1:${port}`);
        const path = new URL(request.url).pathname;
        let response: Response;
        if (path === HYBRID_PATH) response = await receive(request, 'hybrid');
        else if (path === SYNC_PATH) response = await receive(request, 'sync');
        else if (path === DRAIN_PATH) response = await drainHandler(request);
        else if (path === '/_local/events' && request.headers.get('authorization') === `Bearer ${adminToken}`) {
          response = Response.json({ events: recorded ?? [] });
        } else if (path === '/_local/cli' && request.headers.get('authorization') === `Bearer ${adminToken}`) {
          const { argv: verbArgv } = (await request.json()) as { argv: string[] };
          response = Response.json(await runVerbInStack(verbArgv, ctx));
        } else response = answer(404, null, { error: `No function at ${path}` });
        await sendWebResponse(res, response);
      } catch (error) {
        logLine({ msg: 'unhandled error', error: String(error) });
        res.statusCode = 500;
        res.end(JSON.stringify({ ok: false, error: 'internal error' }));
      }
    });

    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => {
        rmSync(STACK_FILE, { force: true });
        reject(new Error(`cannot listen on port ${port} (PORT): ${error.message}`));
      });
      server.listen(port, '127.0.0.1', resolve);
    });
    writeStack(true);

    const timer = setInterval(() => {
      drainHandler(authorized({})).catch((error) => logLine({ msg: 'timed drain failed', error: String(error) }));
    }, intervalMs);

    ctx.out(
      [
        '',
        'webhook-router local stack',
        `  hybrid receiver   ${base}${HYBRID_PATH}`,
        `  original receiver ${base}${SYNC_PATH}`,
        `  drain             ${base}${DRAIN_PATH}  (every ${intervalMs / 1000}s and on every kick)`,
        `  database          ${database.description} (${migration.trim().split('\n').pop()})`,
        `  inngest           ${config.inngest.eventKey ? `sending to ${config.inngest.baseUrl ?? 'Inngest Cloud'}` : 'no INNGEST_EVENT_KEY: events recorded locally and logged'}`,
        devSecret
          ? `  webhook secret    generated for development: ${devSecret}`
          : '  webhook secret    from GITHUB_WEBHOOK_SECRET',
        `  try it            npx webhook-router seed --repo acme/widgets --workspaces 12`,
        `                    npx webhook-router send push --repo acme/widgets`,
        '',
      ].join('\n'),
    );

    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    clearInterval(timer);
    server.close();
    rmSync(STACK_FILE, { force: true });
    await database.close();
    return 0;
  },
};
