import type { EnvRecord } from '../../shared/config.ts';
import type { OutgoingEvent } from '../../shared/inngest/events.ts';
import { answer } from '../../shared/receive/respond.ts';
import type { ReceiveMode } from '../../shared/receive/receive.ts';
import type { CapturedRun } from '../forwarded.ts';
import { DRAIN_PATH, HYBRID_PATH, LOCAL_CLI_PATH, LOCAL_EVENTS_PATH, SYNC_PATH } from './paths.ts';

export interface StackRoutes {
  receive(request: Request, mode: ReceiveMode): Promise<Response>;
  drain(request: Request): Promise<Response>;
  /** Runs a forwarded verb on the stack's database with the caller's environment. */
  runVerb(argv: string[], env: EnvRecord): Promise<CapturedRun>;
  /** Inngest events kept in memory, or null when they are sent to Inngest. */
  recorded: OutgoingEvent[] | null;
  /** Bearer token of the /_local endpoints, from stack.json. */
  adminToken: string;
  /** The status page, its assets and its data endpoint (src/cli/status-page.ts). */
  status: { handles(path: string): boolean; serve(request: Request): Promise<Response> };
}

/** The stack's one HTTP surface: the deployed handlers at their production paths, plus /_local for the CLI. */
export function stackHandler(routes: StackRoutes): (request: Request) => Promise<Response> {
  return async (request) => {
    const path = new URL(request.url).pathname;
    if (path === HYBRID_PATH) return routes.receive(request, 'hybrid');
    if (path === SYNC_PATH) return routes.receive(request, 'sync');
    if (path === DRAIN_PATH) return routes.drain(request);
    if (routes.status.handles(path)) return routes.status.serve(request);
    const admin = request.headers.get('authorization') === `Bearer ${routes.adminToken}`;
    if (path === LOCAL_EVENTS_PATH && admin) return Response.json({ events: routes.recorded });
    if (path === LOCAL_CLI_PATH && admin && request.method === 'POST') {
      const body = (await request.json().catch(() => null)) as { argv?: unknown; env?: unknown } | null;
      const argv = body?.argv;
      if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) {
        return Response.json({ error: 'argv must be an array of strings' }, { status: 400 });
      }
      const env = typeof body?.env === 'object' && body.env !== null ? (body.env as EnvRecord) : {};
      return Response.json(await routes.runVerb(argv, env));
    }
    return answer(404, null, { error: `No function at ${path}` });
  };
}
