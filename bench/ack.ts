/**
 * Ack latency: how long GitHub waits for an answer from the hybrid receiver vs the original
 * synchronous function (mode 'sync', all work inline), both served over real HTTP from their own
 * process on real PostgreSQL, with an Inngest stand-in that answers after `standinDelayMs`.
 * Requests alternate between the two receivers so a noisy machine slows both alike.
 * Then the hybrid receiver alone under a steady open-loop rate.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Agent } from 'node:http';
import { createPostgresDatabase } from '../src/shared/db/postgres.ts';
import { parseDelivery } from '../src/shared/github/delivery.ts';
import { verifySignature } from '../src/shared/github/verify.ts';
import { inspectDelivery, recordDelivery } from '../src/shared/receive/store.ts';
import { seedRepository } from '../src/node/seed.ts';
import { startChild } from './lib/child.ts';
import { createBenchDatabase } from './lib/db.ts';
import {
  BENCH_SECRET,
  deliveryHeaders,
  HYBRID_PATH,
  keepAliveAgent,
  post,
  pullRequestOpened,
  SYNC_PATH,
  type BenchRepository,
} from './lib/deliveries.ts';
import { signatureOf } from '../tests/helpers/sign.ts';
import { startStandin } from './lib/inngest-standin.ts';
import { ratio, sleep, summarize, type Summary } from './lib/stats.ts';

export interface AckOptions {
  /** Active workspaces of the repository in each comparison. */
  sizes: number[];
  /** Deliveries per receiver and size. */
  samples: number;
  /** Unmeasured deliveries per receiver and size first. */
  warmup: number;
  /** How long the Inngest stand-in takes to answer a send. */
  standinDelayMs: number;
  /** Steady open-loop load on the hybrid receiver; null to skip. */
  steady: { rate: number; seconds: number; workspaces: number } | null;
  /** In-process timings of the hybrid path's steps (verify, parse, the two SQL round trips). */
  breakdownSamples: number;
  log?: (line: string) => void;
}

export const FULL_ACK: AckOptions = {
  sizes: [10, 50, 100, 500],
  samples: 100,
  warmup: 10,
  standinDelayMs: 150,
  steady: { rate: 200, seconds: 30, workspaces: 100 },
  breakdownSamples: 200,
};

export interface ReceiverLatency extends Summary {
  /** Answers other than the expected status (202 hybrid, 200 sync) or network errors. */
  errors: number;
  statuses: Record<string, number>;
}

export interface AckSizeResult {
  workspaces: number;
  hybrid: ReceiverLatency;
  sync: ReceiverLatency;
  /** sync ÷ hybrid at each percentile: how many times longer GitHub waits for the original. */
  ratio: { p50: number; p95: number; p99: number };
  /** Inngest events the sync receiver sent per delivery (should equal workspaces). */
  syncEventsPerDelivery: number;
}

export interface SteadyResult {
  rate: number;
  seconds: number;
  workspaces: number;
  sent: number;
  ok: number;
  errors: number;
  errorSamples: string[];
  achievedRate: number;
  latency: Summary;
  /** Worst delay between a request's scheduled and actual send (the generator keeping up). */
  maxScheduleLagMs: number;
}

export interface AckResult {
  name: 'ack';
  options: Omit<AckOptions, 'log'>;
  startedAt: string;
  finishedAt: string;
  payloadBytes: number;
  sizes: AckSizeResult[];
  steady: SteadyResult | null;
  /** Median in-process cost of each hybrid step, ms (for "where the time goes"). */
  breakdown: { verify: number; parse: number; inspectRoundTrip: number; recordRoundTrip: number };
  /** Drain kicks the stand-in received (one per burst: the marker coalesces them). */
  kicks: number;
  /** Rows in webhook_deliveries at the end vs deliveries answered 200/202. */
  recorded: { deliveries: number; answered: number; queuedJobs: number };
}

function repoFor(workspaces: number): BenchRepository {
  return { fullName: `bench/ws-${workspaces}`, githubId: 7_000_000 + workspaces };
}

interface Prepared {
  /** A new, signed body each call: GitHub never sends one body twice. */
  next(): { body: string; signed: string };
}

function prepare(workspaces: number): Prepared {
  return {
    next() {
      const body = JSON.stringify(pullRequestOpened(repoFor(workspaces)));
      return { body, signed: signatureOf(body, BENCH_SECRET) };
    },
  };
}

function latencyOf(samples: { ms: number; status: number; error?: string }[], expected: number): ReceiverLatency {
  const statuses: Record<string, number> = {};
  for (const s of samples) statuses[String(s.status)] = (statuses[String(s.status)] ?? 0) + 1;
  return {
    ...summarize(samples.map((s) => s.ms)),
    errors: samples.filter((s) => s.status !== expected).length,
    statuses,
  };
}

async function steadyLoad(
  url: string,
  prepared: Prepared,
  options: NonNullable<AckOptions['steady']>,
  agent: Agent,
): Promise<Omit<SteadyResult, 'workspaces'>> {
  const total = Math.round(options.rate * options.seconds);
  const interval = 1000 / options.rate;
  const latencies: number[] = [];
  const errorSamples = new Set<string>();
  let ok = 0;
  let errors = 0;
  let maxLag = 0;
  const inflight: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0.5) await sleep(wait);
    maxLag = Math.max(maxLag, performance.now() - due);
    const { body, signed } = prepared.next();
    const headers = deliveryHeaders('pull_request', body, signed);
    inflight.push(
      post(url, body, headers, agent).then((r) => {
        latencies.push(r.ms);
        if (r.status === 202) ok += 1;
        else {
          errors += 1;
          if (errorSamples.size < 5) errorSamples.add(r.error ?? `HTTP ${r.status}: ${r.body.slice(0, 200)}`);
        }
      }),
    );
  }
  const sendSeconds = (performance.now() - started) / 1000;
  await Promise.all(inflight);
  return {
    rate: options.rate,
    seconds: options.seconds,
    sent: total,
    ok,
    errors,
    errorSamples: [...errorSamples],
    achievedRate: Math.round((total / sendSeconds) * 10) / 10,
    latency: summarize(latencies),
    maxScheduleLagMs: Math.round(maxLag * 1000) / 1000,
  };
}

async function breakdown(url: string, workspaces: number, samples: number): Promise<AckResult['breakdown']> {
  const db = createPostgresDatabase(url);
  const prepared = prepare(workspaces);
  const repo = repoFor(workspaces);
  const times = { verify: [] as number[], parse: [] as number[], inspectRoundTrip: [] as number[], recordRoundTrip: [] as number[] };
  try {
    for (let i = 0; i < samples + 5; i++) {
      const { body, signed } = prepared.next();
      const headers = new Headers(deliveryHeaders('pull_request', body, signed));
      const id = headers.get('x-github-delivery') as string;
      let t = performance.now();
      if (!(await verifySignature(body, signed, [BENCH_SECRET]))) throw new Error('signature did not verify');
      const verify = performance.now() - t;
      t = performance.now();
      const parsed = parseDelivery(headers, body);
      const parse = performance.now() - t;
      if (!parsed.ok) throw new Error(parsed.reason);
      t = performance.now();
      const bodySha256 = createHash('sha256').update(body).digest('hex');
      const inspection = await inspectDelivery(db, { deliveryId: id, bodySha256, repositoryId: repo.githubId, repository: repo.fullName, idLimit: 10 });
      const inspect = performance.now() - t;
      t = performance.now();
      await recordDelivery(db, {
        deliveryId: id,
        bodySha256,
        event: 'pull_request',
        action: 'opened',
        repository: repo.fullName,
        repositoryId: repo.githubId,
        route: 'queued',
        statusCode: 202,
        responseMs: 1,
        workspaceCount: inspection.workspaceCount,
        job: {
          type: 'webhook/pull_request',
          payload: { event: 'pull_request', action: 'opened', delivery_id: id, data: parsed.delivery.payload, received_at: new Date().toISOString() },
          priority: 10,
          max_retries: 5,
          coalesce_key: null,
        },
      });
      const record = performance.now() - t;
      if (i < 5) continue; // warm-up
      times.verify.push(verify);
      times.parse.push(parse);
      times.inspectRoundTrip.push(inspect);
      times.recordRoundTrip.push(record);
    }
  } finally {
    await db.close();
  }
  return {
    verify: summarize(times.verify).p50,
    parse: summarize(times.parse).p50,
    inspectRoundTrip: summarize(times.inspectRoundTrip).p50,
    recordRoundTrip: summarize(times.recordRoundTrip).p50,
  };
}

export async function run(partial: Partial<AckOptions> = {}): Promise<AckResult> {
  const options: AckOptions = { ...FULL_ACK, ...partial };
  const log = options.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const db = await createBenchDatabase('ack');
  const children: { stop(): Promise<void> }[] = [];
  const agent = keepAliveAgent(options.steady ? Math.max(64, Math.ceil(options.steady.rate / 2)) : 4);
  try {
    const allSizes = [...new Set([...options.sizes, ...(options.steady ? [options.steady.workspaces] : [])])];
    for (const n of allSizes) await seedRepository(db.query, { ...repoFor(n), workspaces: n });

    const standin = await startStandin(options.standinDelayMs);
    children.push(standin);
    const receiver = await startChild(fileURLToPath(new URL('./lib/receiver-server.ts', import.meta.url)), {
      DATABASE_URL: db.url,
      GITHUB_WEBHOOK_SECRET: BENCH_SECRET,
      INNGEST_EVENT_KEY: 'bench-event-key',
      INNGEST_BASE_URL: standin.url,
      PROCESS_WEBHOOK_URL: `${standin.url}/kick`,
      PROCESS_WEBHOOK_SECRET: 'bench-drain-secret',
    });
    children.push(receiver);
    const hybridUrl = `${receiver.url}${HYBRID_PATH}`;
    const syncUrl = `${receiver.url}${SYNC_PATH}`;

    let answered = 0;
    const send = async (url: string, prepared: Prepared) => {
      const { body, signed } = prepared.next();
      const r = await post(url, body, deliveryHeaders('pull_request', body, signed), agent);
      if (r.status === 200 || r.status === 202) answered += 1;
      return r;
    };

    const sizes: AckSizeResult[] = [];
    for (const n of options.sizes) {
      const prepared = prepare(n);
      for (let i = 0; i < options.warmup; i++) {
        await send(hybridUrl, prepared);
        await send(syncUrl, prepared);
      }
      const hybrid: Awaited<ReturnType<typeof post>>[] = [];
      const sync: Awaited<ReturnType<typeof post>>[] = [];
      for (let i = 0; i < options.samples; i++) {
        // Alternate which goes first so neither always follows the other's after-effects.
        if (i % 2 === 0) {
          hybrid.push(await send(hybridUrl, prepared));
          sync.push(await send(syncUrl, prepared));
        } else {
          sync.push(await send(syncUrl, prepared));
          hybrid.push(await send(hybridUrl, prepared));
        }
      }
      const syncEvents = sync
        .filter((s) => s.status === 200)
        .map((s) => Number((JSON.parse(s.body) as { eventsSent?: number }).eventsSent ?? 0));
      const result: AckSizeResult = {
        workspaces: n,
        hybrid: latencyOf(hybrid, 202),
        sync: latencyOf(sync, 200),
        ratio: { p50: 0, p95: 0, p99: 0 },
        syncEventsPerDelivery: syncEvents.length ? Math.min(...syncEvents) : 0,
      };
      result.ratio = {
        p50: ratio(result.sync.p50, result.hybrid.p50),
        p95: ratio(result.sync.p95, result.hybrid.p95),
        p99: ratio(result.sync.p99, result.hybrid.p99),
      };
      sizes.push(result);
      log(
        `ack ${n} workspaces: hybrid p50 ${result.hybrid.p50} ms p99 ${result.hybrid.p99} ms | sync p50 ${result.sync.p50} ms p99 ${result.sync.p99} ms | ×${result.ratio.p50} at p50`,
      );
    }

    let steady: SteadyResult | null = null;
    if (options.steady) {
      const prepared = prepare(options.steady.workspaces);
      for (let i = 0; i < options.warmup; i++) await send(hybridUrl, prepared);
      log(`steady load: ${options.steady.rate}/s for ${options.steady.seconds} s on the hybrid receiver…`);
      const r = await steadyLoad(hybridUrl, prepared, options.steady, agent);
      answered += r.ok;
      steady = { ...r, workspaces: options.steady.workspaces };
      log(`steady: sent ${r.sent}, ok ${r.ok}, errors ${r.errors}, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms`);
    }

    await sleep(200); // let the last kicks land
    const kicks = (await standin.stats()).kicks;
    const [counts] = await db.query(
      `select (select count(*) from public.webhook_deliveries)::int as deliveries,
              (select count(*) from public.background_jobs)::int as jobs`,
      [],
    );
    const steps = await breakdown(db.url, options.steady?.workspaces ?? options.sizes[0] ?? 10, options.breakdownSamples);

    return {
      name: 'ack',
      options: { ...options, log: undefined } as Omit<AckOptions, 'log'>,
      startedAt,
      finishedAt: new Date().toISOString(),
      payloadBytes: Buffer.byteLength(prepare(options.sizes[0] ?? 10).next().body),
      sizes,
      steady,
      breakdown: steps,
      kicks,
      recorded: { deliveries: Number(counts?.deliveries), answered, queuedJobs: Number(counts?.jobs) },
    };
  } finally {
    agent.destroy();
    for (const child of children.reverse()) await child.stop().catch(() => {});
    await db.drop();
  }
}
