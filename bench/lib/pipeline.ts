/**
 * The queued path end to end, each part in its own process: the hybrid receiver as deployed
 * (bench/lib/receiver-server.ts), kicking a real drain (bench/lib/drain-server.ts, composed as the
 * Edge Function is), which sends to the Inngest stand-in (bench/lib/inngest-standin.ts) that
 * notes when each delivery's first event arrived. No sweep runs: whatever the receiver's kicks and
 * the drains themselves do not reach waits, so nothing here leans on the minute timer.
 */
import { fileURLToPath } from 'node:url';
import { seedRepository } from '../../src/node/seed.ts';
import { startChild, type Child } from './child.ts';
import { createBenchDatabase, type BenchDatabase } from './db.ts';
import { BENCH_SECRET, HYBRID_PATH, type BenchRepository } from './deliveries.ts';
import { startDrainServer, type DrainServer } from './drain-server.ts';
import { startStandin, type Standin } from './inngest-standin.ts';
import { sleep } from './stats.ts';

export const DRAIN_SECRET = 'bench-drain-secret';
/** Where Supabase serves the function; the drain server answers at any path. */
const DRAIN_PATH = '/functions/v1/process-webhook';

export interface Pipeline {
  db: BenchDatabase;
  standin: Standin;
  drain: DrainServer;
  receiver: Child;
  hybridUrl: string;
  /** Jobs not yet completed (queued, processing or failed). */
  unfinished(): Promise<{ queued: number; processing: number; failed: number; completed: number }>;
  /** Waits until every job is completed or failed and no drain runs, or `timeoutMs` passes; true if it did. */
  settle(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startPipeline(
  bench: string,
  options: { standinDelayMs: number; repositories: { repo: BenchRepository; workspaces: number }[]; drainEnv?: Record<string, string> },
): Promise<Pipeline> {
  const db = await createBenchDatabase(bench);
  const children: Child[] = [];
  try {
    for (const { repo, workspaces } of options.repositories) await seedRepository(db.query, { ...repo, workspaces });
    const standin = await startStandin(options.standinDelayMs, { firstSeen: true });
    children.push(standin);
    const drain = await startDrainServer({
      DATABASE_URL: db.url,
      PROCESS_WEBHOOK_SECRET: DRAIN_SECRET,
      INNGEST_EVENT_KEY: 'bench-event-key',
      INNGEST_BASE_URL: standin.url,
      ...options.drainEnv,
    });
    children.push(drain);
    const receiver = await startChild(fileURLToPath(new URL('./receiver-server.ts', import.meta.url)), {
      DATABASE_URL: db.url,
      GITHUB_WEBHOOK_SECRET: BENCH_SECRET,
      INNGEST_EVENT_KEY: 'bench-event-key',
      INNGEST_BASE_URL: standin.url,
      PROCESS_WEBHOOK_URL: `${drain.url}${DRAIN_PATH}`,
      PROCESS_WEBHOOK_SECRET: DRAIN_SECRET,
    });
    children.push(receiver);
    const unfinished = async () => {
      const [row] = await db.query(
        `select count(*) filter (where status = 'queued')::int as queued,
                count(*) filter (where status = 'processing')::int as processing,
                count(*) filter (where status = 'failed')::int as failed,
                count(*) filter (where status = 'completed')::int as completed
           from public.background_jobs`,
        [],
      );
      return { queued: Number(row?.queued), processing: Number(row?.processing), failed: Number(row?.failed), completed: Number(row?.completed) };
    };
    return {
      db,
      standin,
      drain,
      receiver,
      hybridUrl: `${receiver.url}${HYBRID_PATH}`,
      unfinished,
      async settle(timeoutMs) {
        const stopAt = performance.now() + timeoutMs;
        while (performance.now() < stopAt) {
          const left = await unfinished();
          if (left.queued === 0 && left.processing === 0 && (await drain.stats()).running === 0) return true;
          await sleep(250);
        }
        return false;
      },
      async stop() {
        for (const child of children.reverse()) await child.stop().catch(() => {});
        await db.drop();
      },
    };
  } catch (error) {
    for (const child of children.reverse()) await child.stop().catch(() => {});
    await db.drop();
    throw error;
  }
}
