/**
 * The Inngest stand-in (tests/helpers/inngest-standin.ts) in a process of its own, so its CPU is
 * not charged to the process a benchmark measures. It answers after a fixed delay, counts event
 * sends and drain kicks (`POST /kick`) without keeping them, and reports the counts over HTTP.
 */
import { fileURLToPath } from 'node:url';
import { startInngestStandIn, type StandInStats } from '../../tests/helpers/inngest-standin.ts';
import { announceReady, startChild, type Child } from './child.ts';

export interface Standin extends Child {
  stats(): Promise<StandInStats>;
  reset(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

export async function startStandin(delayMs: number): Promise<Standin> {
  const child = await startChild(SELF, { STANDIN_DELAY_MS: String(delayMs) });
  return {
    ...child,
    async stats() {
      return (await (await fetch(`${child.url}/_standin/stats`)).json()) as StandInStats;
    },
    async reset() {
      await (await fetch(`${child.url}/_standin/reset`, { method: 'POST' })).arrayBuffer();
    },
  };
}

if (process.argv[1] === SELF && process.send) {
  const standIn = await startInngestStandIn({ delayMs: Number(process.env.STANDIN_DELAY_MS ?? 150), record: false });
  announceReady(Number(new URL(standIn.url).port), () => standIn.close());
}
