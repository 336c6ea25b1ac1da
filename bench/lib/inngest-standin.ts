/**
 * The Inngest stand-in (tests/helpers/inngest-standin.ts) in a process of its own, so its CPU is
 * not charged to the process a benchmark measures. It answers after a fixed delay, counts event
 * sends and drain kicks (`POST /kick`) without keeping them, and reports the counts over HTTP;
 * with `firstSeen` it also keeps when the first event naming each delivery arrived.
 */
import { fileURLToPath } from 'node:url';
import { startInngestStandIn, type StandInStats } from '../../tests/helpers/inngest-standin.ts';
import { announceReady, startChild, type Child } from './child.ts';

export interface Standin extends Child {
  stats(): Promise<StandInStats>;
  /** Delivery GUID → ms since the epoch when its first event arrived (started with firstSeen). */
  firstSeen(): Promise<Map<string, number>>;
  reset(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

export async function startStandin(delayMs: number, options: { firstSeen?: boolean } = {}): Promise<Standin> {
  const child = await startChild(SELF, { STANDIN_DELAY_MS: String(delayMs), STANDIN_FIRST_SEEN: options.firstSeen ? '1' : '' });
  return {
    ...child,
    async stats() {
      return (await (await fetch(`${child.url}/_standin/stats`)).json()) as StandInStats;
    },
    async firstSeen() {
      const seen = (await (await fetch(`${child.url}/_standin/first-seen`)).json()) as Record<string, number>;
      return new Map(Object.entries(seen));
    },
    async reset() {
      await (await fetch(`${child.url}/_standin/reset`, { method: 'POST' })).arrayBuffer();
    },
  };
}

if (process.argv[1] === SELF && process.send) {
  const standIn = await startInngestStandIn({
    delayMs: Number(process.env.STANDIN_DELAY_MS ?? 150),
    record: false,
    firstSeen: process.env.STANDIN_FIRST_SEEN === '1',
  });
  announceReady(Number(new URL(standIn.url).port), () => standIn.close());
}
