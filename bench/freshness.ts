/**
 * Freshness: from a delivery being sent to the receiver until the first Inngest event naming it
 * arrives, with the queued path as deployed (bench/lib/pipeline.ts: receiver → kicked drain →
 * Inngest stand-in, each its own process, no sweep). Open loop at `rate` deliveries/s of unique
 * pull requests, then of pushes spread over several repositories and branches (pushes of one ref
 * coalesce into one job that waits out PUSH_DEBOUNCE_SECONDS). Both clocks are the same machine's
 * (performance.timeOrigin + performance.now() in each process).
 */
import { loadConfig } from '../src/shared/config.ts';
import { keepAliveAgent, prepareDelivery, pullRequestOpened, pushTo, type BenchRepository, type PreparedDelivery } from './lib/deliveries.ts';
import type { DrainStats } from './lib/drain-server.ts';
import { openLoop, summarizeAnswers, type AnswerSummary } from './lib/load.ts';
import { startPipeline, type Pipeline } from './lib/pipeline.ts';
import { sleep, summarize, type Summary } from './lib/stats.ts';

export interface FreshnessOptions {
  rate: number;
  seconds: number;
  /** Active workspaces per repository (events per delivery). */
  workspaces: number;
  /** Pushes go to this many repositories × branches, a random one each. */
  pushRepositories: number;
  pushBranches: number;
  /**
   * Each variant runs both phases on a fresh pipeline: how long the Inngest stand-in takes to
   * answer a send, and drain settings other than the defaults. A drain runs DRAIN_CONCURRENCY
   * jobs at a time, each waiting for its send, so the answer time bounds its rate.
   */
  variants: FreshnessVariantOptions[];
  /** How long to wait after the last send for every delivery's first event. */
  waitMs: number;
  log?: (line: string) => void;
}

export interface FreshnessVariantOptions {
  label: string;
  standinDelayMs: number;
  drainEnv: Record<string, string>;
}

export const FULL_FRESHNESS: FreshnessOptions = {
  rate: 50,
  seconds: 20,
  workspaces: 10,
  pushRepositories: 5,
  pushBranches: 10,
  variants: [
    { label: 'Inngest answers in 150 ms, default drain settings', standinDelayMs: 150, drainEnv: {} },
    { label: 'Inngest answers in 50 ms, default drain settings', standinDelayMs: 50, drainEnv: {} },
    { label: 'Inngest answers in 150 ms, DRAIN_CONCURRENCY=16', standinDelayMs: 150, drainEnv: { DRAIN_CONCURRENCY: '16' } },
  ],
  waitMs: 30_000,
};

export interface FreshnessPhase {
  event: 'pull_request' | 'push';
  sent: number;
  ack: AnswerSummary;
  /** Deliveries whose first event arrived, and those whose never did within waitMs. */
  seen: number;
  missing: number;
  /** Delivery sent → first event arrived, ms. */
  freshness: Summary;
  goalMs: number;
  /** freshness p99 (pull requests) or max (pushes) within goalMs, and nothing missing. */
  met: boolean;
  jobs: number;
  /** Drain invocations (requests to the drain) during the phase, and the drains' summaries. */
  drain: DrainStats;
}

export interface FreshnessResult {
  name: 'freshness';
  options: Omit<FreshnessOptions, 'log'>;
  startedAt: string;
  finishedAt: string;
  settings: { pushDebounceSeconds: number; drainIdleMs: number; drainWaitSeconds: number; drainConcurrency: number; drainBatchSize: number };
  variants: (FreshnessVariantOptions & { phases: FreshnessPhase[] })[];
}

const PR_REPO: BenchRepository = { fullName: 'bench/fresh-pr', githubId: 9_200_000 };
const pushRepo = (i: number): BenchRepository => ({ fullName: `bench/fresh-push-${i}`, githubId: 9_200_100 + i });

function diff(after: DrainStats, before: DrainStats): DrainStats {
  const out = { ...after };
  for (const key of Object.keys(after) as (keyof DrainStats)[]) {
    if (key !== 'running' && key !== 'maxRunning') out[key] = after[key] - before[key];
  }
  return out;
}

async function phase(
  pipeline: Pipeline,
  event: FreshnessPhase['event'],
  deliveries: PreparedDelivery[],
  options: FreshnessOptions,
  goalMs: number,
): Promise<FreshnessPhase> {
  const agent = keepAliveAgent(64);
  const before = await pipeline.drain.stats();
  const [jobsBefore] = await pipeline.db.query('select count(*)::int as n from public.background_jobs', []);
  try {
    const run = await openLoop(pipeline.hybridUrl, deliveries, options.rate, agent);
    const ids = new Set(deliveries.map((d) => d.id));
    const stopAt = performance.now() + options.waitMs;
    let seen = await pipeline.standin.firstSeen();
    while ([...ids].some((id) => !seen.has(id)) && performance.now() < stopAt) {
      await sleep(250);
      seen = await pipeline.standin.firstSeen();
    }
    await pipeline.settle(options.waitMs);
    const latencies: number[] = [];
    for (const a of run.answers) {
      const at = seen.get(a.id);
      if (at !== undefined) latencies.push(at - a.sentAt);
    }
    const freshness = summarize(latencies);
    const missing = deliveries.length - latencies.length;
    const [jobsAfter] = await pipeline.db.query('select count(*)::int as n from public.background_jobs', []);
    return {
      event,
      sent: deliveries.length,
      ack: summarizeAnswers(run.answers, [202]),
      seen: latencies.length,
      missing,
      freshness,
      goalMs,
      met: missing === 0 && (event === 'push' ? freshness.max : freshness.p99) <= goalMs,
      jobs: Number(jobsAfter?.n) - Number(jobsBefore?.n),
      drain: diff(await pipeline.drain.stats(), before),
    };
  } finally {
    agent.destroy();
  }
}

async function runVariant(variant: FreshnessVariantOptions, options: FreshnessOptions, log: (line: string) => void): Promise<FreshnessPhase[]> {
  const pushRepos = Array.from({ length: options.pushRepositories }, (_, i) => pushRepo(i));
  const pipeline = await startPipeline('fresh', {
    standinDelayMs: variant.standinDelayMs,
    repositories: [PR_REPO, ...pushRepos].map((repo) => ({ repo, workspaces: options.workspaces })),
    drainEnv: variant.drainEnv,
  });
  try {
    const count = Math.round(options.rate * options.seconds);
    const phases: FreshnessPhase[] = [];
    // A few unmeasured deliveries first, so both phases start with the processes warm.
    await phase(pipeline, 'pull_request', Array.from({ length: 10 }, () => prepareDelivery('pull_request', pullRequestOpened(PR_REPO))), { ...options, rate: 10 }, 0);

    const prs = Array.from({ length: count }, () => prepareDelivery('pull_request', pullRequestOpened(PR_REPO)));
    log(`freshness (${variant.label}): ${count} pull requests at ${options.rate}/s…`);
    phases.push(await phase(pipeline, 'pull_request', prs, options, 1_000));

    const refs = pushRepos.flatMap((repo) => Array.from({ length: options.pushBranches }, (_, b) => ({ repo, ref: `refs/heads/branch-${b}` })));
    const pushes = Array.from({ length: count }, (_, i) => {
      const { repo, ref } = refs[(i * 7919) % refs.length] as { repo: BenchRepository; ref: string };
      return prepareDelivery('push', pushTo(repo, ref));
    });
    log(`freshness (${variant.label}): ${count} pushes at ${options.rate}/s over ${refs.length} refs…`);
    phases.push(await phase(pipeline, 'push', pushes, options, (loadConfig({}).pushDebounceSeconds + 2) * 1000));
    for (const p of phases) {
      log(
        `freshness ${p.event}: p50 ${p.freshness.p50} ms, p99 ${p.freshness.p99} ms, max ${p.freshness.max} ms, missing ${p.missing}; ` +
          `${p.jobs} jobs, ${p.drain.invocations} drain invocations → ${p.met ? 'met' : 'NOT met'} (goal ${p.goalMs} ms)`,
      );
    }
    return phases;
  } finally {
    await pipeline.stop();
  }
}

export async function run(partial: Partial<FreshnessOptions> = {}): Promise<FreshnessResult> {
  const options: FreshnessOptions = { ...FULL_FRESHNESS, ...partial };
  const log = options.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const defaults = loadConfig({});
  const variants: FreshnessResult['variants'] = [];
  for (const variant of options.variants) variants.push({ ...variant, phases: await runVariant(variant, options, log) });
  return {
    name: 'freshness',
    options: { ...options, log: undefined } as Omit<FreshnessOptions, 'log'>,
    startedAt,
    finishedAt: new Date().toISOString(),
    settings: {
      pushDebounceSeconds: defaults.pushDebounceSeconds,
      drainIdleMs: defaults.drain.idleMs,
      drainWaitSeconds: defaults.drain.waitSeconds,
      drainConcurrency: defaults.drain.concurrency,
      drainBatchSize: defaults.drain.batchSize,
    },
    variants,
  };
}
