import type { Config } from '../config.ts';
import type { Database } from '../db/port.ts';
import type { EventSender } from '../inngest/sender.ts';
import { handleDrainRequest } from './http.ts';

/** The drain endpoint wired from configuration; the same in the Edge Function and the local stack. */
export function createDrainHandler(
  config: Pick<Config, 'drain' | 'serviceRoleKey'>,
  deps: {
    db: Database;
    sender: EventSender;
    log?: (entry: Record<string, unknown>) => void;
    now?: () => number;
    /** Where the platform can keep working after the answer (EdgeRuntime.waitUntil). */
    waitUntil?: (work: Promise<unknown>) => void;
    /** Starts the next drain when one stops at DRAIN_MAX_JOBS with jobs still ready. */
    handOver?: () => Promise<void>;
  },
): (request: Request) => Promise<Response> {
  const tokens = [config.drain.secret, config.serviceRoleKey].filter((t): t is string => Boolean(t));
  return (request) =>
    handleDrainRequest(request, {
      db: deps.db,
      sender: deps.sender,
      settings: config.drain,
      tokens,
      ...(deps.log ? { log: deps.log } : {}),
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.waitUntil ? { waitUntil: deps.waitUntil } : {}),
      ...(deps.handOver ? { handOver: deps.handOver } : {}),
    });
}
