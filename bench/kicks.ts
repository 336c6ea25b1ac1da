/**
 * Edge invocations per queued delivery: unique pull requests at `rate`/s for `seconds` through the
 * queued path as deployed (bench/lib/pipeline.ts), with a real drain that holds the drain marker
 * while it runs and hands it back when idle, as in production. Every request that reaches the
 * drain endpoint is an invocation (a paid Edge Function call); the receiver sends one only when
 * its enqueue found the marker free. No sweep runs. Also reports the receiver's answers while a
 * real drain shares the machine, and whether every job completed.
 */
import { keepAliveAgent, prepareDelivery, pullRequestOpened, type BenchRepository } from './lib/deliveries.ts';
import type { DrainStats } from './lib/drain-server.ts';
import { openLoop, summarizeAnswers, type AnswerSummary } from './lib/load.ts';
import { startPipeline } from './lib/pipeline.ts';
import { ratio } from './lib/stats.ts';

export interface KicksVariantOptions {
  label: string;
  standinDelayMs: number;
  drainEnv: Record<string, string>;
}

export interface KicksOptions {
  rate: number;
  seconds: number;
  workspaces: number;
  /** How long to wait after the last send for the drains to finish every job. */
  waitMs: number;
  variants: KicksVariantOptions[];
  log?: (line: string) => void;
}

export const FULL_KICKS: KicksOptions = {
  rate: 200,
  seconds: 20,
  workspaces: 10,
  waitMs: 30_000,
  variants: [
    { label: 'Inngest answers in 150 ms, default drain settings', standinDelayMs: 150, drainEnv: {} },
    { label: 'Inngest answers in 50 ms, DRAIN_CONCURRENCY=16 (the drain keeps up)', standinDelayMs: 50, drainEnv: { DRAIN_CONCURRENCY: '16' } },
  ],
};

export interface KicksVariant extends KicksVariantOptions {
  sent: number;
  ack: AnswerSummary;
  /** Deliveries answered 202 queued (each made or joined a job). */
  queued: number;
  drain: DrainStats;
  /** Queued deliveries per drain invocation (goal ≥ 20), and invocations per queued delivery. */
  deliveriesPerInvocation: number;
  invocationsPerDelivery: number;
  met: boolean;
  /** Jobs at the end: every one completed when `settled`. */
  jobs: { queued: number; processing: number; failed: number; completed: number };
  settled: boolean;
  /** From the last send until no job was left and no drain ran (null if not within waitMs). */
  drainedAfterMs: number | null;
}

export interface KicksResult {
  name: 'kicks';
  options: Omit<KicksOptions, 'log'>;
  startedAt: string;
  finishedAt: string;
  variants: KicksVariant[];
}

const REPO: BenchRepository = { fullName: 'bench/kicks', githubId: 9_300_000 };

async function runVariant(variant: KicksVariantOptions, options: KicksOptions, log: (line: string) => void): Promise<KicksVariant> {
  const pipeline = await startPipeline('kicks', { standinDelayMs: variant.standinDelayMs, repositories: [{ repo: REPO, workspaces: options.workspaces }], drainEnv: variant.drainEnv });
  const agent = keepAliveAgent(Math.max(64, options.rate / 2));
  try {
    // Warm the receiver and the drain, then start counting from an idle, settled pipeline.
    await openLoop(pipeline.hybridUrl, Array.from({ length: 10 }, () => prepareDelivery('pull_request', pullRequestOpened(REPO))), 10, agent);
    await pipeline.settle(options.waitMs);
    const before = await pipeline.drain.stats();
    const deliveries = Array.from({ length: Math.round(options.rate * options.seconds) }, () => prepareDelivery('pull_request', pullRequestOpened(REPO)));
    log(`kicks (${variant.label}): ${deliveries.length} pull requests at ${options.rate}/s…`);
    const run = await openLoop(pipeline.hybridUrl, deliveries, options.rate, agent);
    const sentEnd = performance.now();
    const settled = await pipeline.settle(options.waitMs);
    const drainedAfterMs = settled ? Math.round(performance.now() - sentEnd) : null;
    const after = await pipeline.drain.stats();
    const drain = { ...after };
    for (const key of Object.keys(after) as (keyof DrainStats)[]) if (key !== 'running' && key !== 'maxRunning') drain[key] = after[key] - before[key];
    const queued = run.answers.filter((a) => a.status === 202 && a.body.includes('"queued"')).length;
    const jobs = await pipeline.unfinished();
    const result: KicksVariant = {
      ...variant,
      sent: deliveries.length,
      ack: summarizeAnswers(run.answers, [202]),
      queued,
      drain,
      deliveriesPerInvocation: ratio(queued, drain.invocations),
      invocationsPerDelivery: drain.invocations / Math.max(1, queued),
      met: drain.invocations * 20 <= queued,
      jobs,
      settled,
      drainedAfterMs,
    };
    log(
      `kicks (${variant.label}): ${queued} queued, ${drain.invocations} drain invocations (${result.deliveriesPerInvocation} deliveries each) → ${result.met ? 'met' : 'NOT met'}; ` +
        `ack p50 ${result.ack.latency.p50} ms p99 ${result.ack.latency.p99} ms; jobs ${JSON.stringify(jobs)}, drained ${drainedAfterMs ?? '—'} ms after the last send`,
    );
    return result;
  } finally {
    agent.destroy();
    await pipeline.stop();
  }
}

export async function run(partial: Partial<KicksOptions> = {}): Promise<KicksResult> {
  const options: KicksOptions = { ...FULL_KICKS, ...partial };
  const log = options.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const variants: KicksVariant[] = [];
  for (const variant of options.variants) variants.push(await runVariant(variant, options, log));
  return { name: 'kicks', options: { ...options, log: undefined } as Omit<KicksOptions, 'log'>, startedAt, finishedAt: new Date().toISOString(), variants };
}
