/**
 * Fan-out: wall time and CPU time of the drain running one queued `pull_request` `opened` job
 * whose repository is in N workspaces (cache invalidation for N + N Inngest events in batches of
 * 100, sent in parallel), against an Inngest stand-in answering after `standinDelayMs` that runs
 * in its own process, so process.cpuUsage() counts the drain's own CPU only. The Supabase Edge
 * Function allows 2 s of CPU per request.
 */
import { loadConfig } from '../src/shared/config.ts';
import { createPostgresDatabase } from '../src/shared/db/postgres.ts';
import { drain } from '../src/shared/drain/drain.ts';
import { createInngestSender } from '../src/shared/inngest/sdk-sender.ts';
import { receiveWebhook } from '../src/shared/receive/receive.ts';
import { seedRepository } from '../src/node/seed.ts';
import { createBenchDatabase } from './lib/db.ts';
import { BENCH_SECRET, deliveryHeaders, HYBRID_PATH, pullRequestOpened, type BenchRepository } from './lib/deliveries.ts';
import { signatureOf } from '../tests/helpers/sign.ts';
import { startStandin } from './lib/inngest-standin.ts';
import { summarize, type Summary } from './lib/stats.ts';

export interface FanoutOptions {
  sizes: number[];
  /** Measured drains per size (one job each), after one unmeasured warm-up. */
  runs: number;
  standinDelayMs: number;
  log?: (line: string) => void;
}

export const FULL_FANOUT: FanoutOptions = { sizes: [100, 500], runs: 10, standinDelayMs: 150 };

/** The Edge Function's CPU limit per request. */
export const EDGE_CPU_BUDGET_MS = 2_000;

export interface FanoutSizeResult {
  workspaces: number;
  runs: number;
  completed: number;
  wallMs: Summary;
  cpuMs: Summary;
  /** Median CPU as a share of the Edge Function's 2 s. */
  cpuShareOfEdgeBudget: number;
  eventsPerJob: number;
  cachesInvalidatedPerJob: number;
  inngestRequestsPerJob: number;
}

export interface FanoutResult {
  name: 'fanout';
  options: Omit<FanoutOptions, 'log'>;
  startedAt: string;
  finishedAt: string;
  settings: { fanoutConcurrency: number; eventsPerSend: number; drainConcurrency: number };
  sizes: FanoutSizeResult[];
}

function repoFor(workspaces: number): BenchRepository {
  return { fullName: `bench/fanout-${workspaces}`, githubId: 8_000_000 + workspaces };
}

export async function run(partial: Partial<FanoutOptions> = {}): Promise<FanoutResult> {
  const options: FanoutOptions = { ...FULL_FANOUT, ...partial };
  const log = options.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const bench = await createBenchDatabase('fanout');
  const standin = await startStandin(options.standinDelayMs);
  const config = loadConfig({
    GITHUB_WEBHOOK_SECRET: BENCH_SECRET,
    INNGEST_EVENT_KEY: 'bench-event-key',
    INNGEST_BASE_URL: standin.url,
  });
  const db = createPostgresDatabase(bench.url);
  const sender = createInngestSender({ eventKey: 'bench-event-key', baseUrl: standin.url });
  try {
    for (const n of options.sizes) await seedRepository(bench.query, { ...repoFor(n), workspaces: n });

    const enqueue = async (workspaces: number): Promise<string> => {
      const body = JSON.stringify(pullRequestOpened(repoFor(workspaces)));
      const request = new Request(`http://127.0.0.1${HYBRID_PATH}`, {
        method: 'POST',
        headers: deliveryHeaders('pull_request', body, signatureOf(body, BENCH_SECRET)),
        body,
      });
      const response = await receiveWebhook(request, { config, mode: 'hybrid', db, sender });
      const answer = (await response.json()) as { jobId?: string };
      if (response.status !== 202 || !answer.jobId) throw new Error(`enqueue answered ${response.status}: ${JSON.stringify(answer)}`);
      return answer.jobId;
    };
    let workerSeq = 0;
    const drainOne = async (jobId: string) => {
      const cpu = process.cpuUsage();
      const started = performance.now();
      const summary = await drain({ db, sender, settings: config.drain, worker: `bench-fanout-${process.pid}-${++workerSeq}` }, { jobId });
      const wallMs = performance.now() - started;
      const used = process.cpuUsage(cpu);
      return { summary, wallMs, cpuMs: (used.user + used.system) / 1000 };
    };

    // Warm-up: JIT, connections, the Inngest client.
    await drainOne(await enqueue(options.sizes[0] ?? 100));

    const sizes: FanoutSizeResult[] = [];
    for (const n of options.sizes) {
      const wall: number[] = [];
      const cpu: number[] = [];
      let completed = 0;
      await standin.reset();
      for (let i = 0; i < options.runs; i++) {
        const jobId = await enqueue(n);
        const r = await drainOne(jobId);
        if (r.summary.completed === 1) completed += 1;
        wall.push(r.wallMs);
        cpu.push(r.cpuMs);
      }
      const seen = await standin.stats();
      const [row] = await bench.query(
        `select (result->>'eventsSent')::int as events, (result->>'cachesInvalidated')::int as caches
           from public.background_jobs where repository = $1 and status = 'completed'
          order by completed_at desc limit 1`,
        [repoFor(n).fullName],
      );
      const result: FanoutSizeResult = {
        workspaces: n,
        runs: options.runs,
        completed,
        wallMs: summarize(wall),
        cpuMs: summarize(cpu),
        cpuShareOfEdgeBudget: 0,
        eventsPerJob: Number(row?.events ?? 0),
        cachesInvalidatedPerJob: Number(row?.caches ?? 0),
        inngestRequestsPerJob: seen.requests / options.runs,
      };
      result.cpuShareOfEdgeBudget = Math.round((result.cpuMs.p50 / EDGE_CPU_BUDGET_MS) * 1000) / 1000;
      sizes.push(result);
      log(`fan-out ${n} workspaces: wall p50 ${result.wallMs.p50} ms, CPU p50 ${result.cpuMs.p50} ms (${(result.cpuShareOfEdgeBudget * 100).toFixed(1)}% of 2 s)`);
    }
    return {
      name: 'fanout',
      options: { sizes: options.sizes, runs: options.runs, standinDelayMs: options.standinDelayMs },
      startedAt,
      finishedAt: new Date().toISOString(),
      settings: {
        fanoutConcurrency: config.drain.fanoutConcurrency,
        eventsPerSend: 100,
        drainConcurrency: config.drain.concurrency,
      },
      sizes,
    };
  } finally {
    await db.close();
    await standin.stop();
    await bench.drop();
  }
}
