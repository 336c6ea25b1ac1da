/**
 * Ack latency: how long GitHub waits for an answer.
 *
 * 1. The hybrid receiver vs the original synchronous function (mode 'sync', all work inline), one
 *    delivery at a time, alternating, at several workspace counts.
 * 2. Under steady open-loop load, the hybrid receiver vs a bare baseline receiver (HMAC verify +
 *    JSON.parse + one INSERT of the body as jsonb; bench/lib/bare-receiver.ts), in the same run:
 *    p50/p99 at one rate, then a stepped search for the highest rate each holds at p99 ≤ budget.
 * 3. Cold start: a freshly spawned process of each receiver and its first deliveries.
 *
 * Every receiver runs in its own process over node:http on real PostgreSQL; the hybrid one is the
 * deployed Netlify entry body with the production composition root. Its drain kicks go to a
 * stand-in that answers 202 at once and drains nothing (bench/kicks.ts runs a real drain).
 * Every body is unique, as GitHub's are.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Agent } from 'node:http';
import { loadConfig } from '../src/shared/config.ts';
import { createPostgresDatabase } from '../src/shared/db/postgres.ts';
import type { QueryFn } from '../src/shared/db/sql.ts';
import { parseDelivery } from '../src/shared/github/delivery.ts';
import { jobPayloadOf } from '../src/shared/github/job-payload.ts';
import { verifySignature } from '../src/shared/github/verify.ts';
import { receiveQueued } from '../src/shared/receive/store.ts';
import { jobPriority } from '../src/shared/routing/policy.ts';
import { seedRepository } from '../src/node/seed.ts';
import { createBareTable } from './lib/bare-receiver.ts';
import { productionNode, startChild, type Child } from './lib/child.ts';
import { createBenchDatabase } from './lib/db.ts';
import {
  BENCH_SECRET,
  deliveryHeaders,
  HYBRID_PATH,
  keepAliveAgent,
  post,
  prepareDelivery,
  pullRequestOpened,
  SYNC_PATH,
  type BenchRepository,
  type PreparedDelivery,
} from './lib/deliveries.ts';
import { signatureOf } from '../tests/helpers/sign.ts';
import { startStandin } from './lib/inngest-standin.ts';
import { oneAtATime, openLoop, summarizeAnswers, type AnswerSummary } from './lib/load.ts';
import { postgresCpuByPid, postgresCpuSince, processCpuMs } from './lib/proc-cpu.ts';
import { ratio, sleep, summarize, type Summary } from './lib/stats.ts';

export interface AckOptions {
  /** Active workspaces of the repository in each hybrid vs sync comparison. */
  sizes: number[];
  /** Deliveries per receiver and size. */
  samples: number;
  /** Unmeasured deliveries per receiver and size first. */
  warmup: number;
  /**
   * Before any load is measured, each receiver takes this many deliveries at this rate, unmeasured:
   * a warm function instance. The hybrid receiver runs far more code than the bare one, and until
   * V8 has optimised it, it spends up to half again as much CPU per delivery.
   */
  loadWarmup: { deliveries: number; rate: number };
  /** How long the Inngest stand-in takes to answer a send. */
  standinDelayMs: number;
  /** Workspaces of the repository the load runs against. */
  loadWorkspaces: number;
  /** Open loop at one rate, hybrid vs bare; null to skip. */
  steady: { rate: number; seconds: number } | null;
  /**
   * Stepped search for the highest rate held at p99 ≤ p99BudgetMs; null to skip. Each rate is
   * tried up to `tries` times per receiver and held when most tries held: on a shared machine one
   * forced checkpoint (another session creating a database) can spoil a single try.
   */
  search: { rates: number[]; stepSeconds: number; p99BudgetMs: number; tries: number } | null;
  /**
   * CPU per delivery of each receiver (its process and the PostgreSQL server, from /proc) at one
   * rate, receivers alternating for `rounds` rounds; null to skip. What a rate's tail hides: on
   * two cores shared with PostgreSQL and the load generator, a receiver's highest rate follows it.
   */
  cpu: { rate: number; seconds: number; rounds: number } | null;
  /** Fresh processes of each receiver (alternating), and deliveries sent one at a time to each. */
  coldStart: { spawns: number; deliveries: number } | null;
  /** In-process timings of the hybrid path's steps (verify, parse, the receive round trip). */
  breakdownSamples: number;
  log?: (line: string) => void;
}

export const FULL_ACK: AckOptions = {
  sizes: [10, 100, 500],
  samples: 100,
  warmup: 10,
  loadWarmup: { deliveries: 3_000, rate: 300 },
  standinDelayMs: 150,
  loadWorkspaces: 100,
  steady: { rate: 200, seconds: 20 },
  search: { rates: [100, 200, 300, 400, 600, 800, 1000, 1200, 1500, 2000], stepSeconds: 8, p99BudgetMs: 25, tries: 3 },
  cpu: { rate: 600, seconds: 8, rounds: 3 },
  coldStart: { spawns: 3, deliveries: 50 },
  breakdownSamples: 200,
};

export type LoadReceiver = 'hybrid' | 'bare';

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

export interface LoadRun extends AnswerSummary {
  receiver: LoadReceiver;
  rate: number;
  seconds: number;
  sent: number;
  achievedRate: number;
  maxScheduleLagMs: number;
  /** Checkpoints the server ran during the run (any database's: the server is shared). */
  checkpoints: number;
}

export interface SteadyResult {
  rate: number;
  seconds: number;
  hybrid: LoadRun;
  bare: LoadRun;
  /** hybrid ÷ bare. */
  ratio: { p50: number; p99: number };
}

export interface SearchStep extends LoadRun {
  try: number;
  /** p99 within budget, every answer as expected, and the generator kept the rate. */
  held: boolean;
  /** Why not: the p99, errors, or the load generator falling behind (then the rate says nothing of the receiver). */
  missed: ('p99' | 'errors' | 'generator')[];
}

export interface SearchResult {
  p99BudgetMs: number;
  stepSeconds: number;
  /** Every try. */
  steps: SearchStep[];
  /** Per receiver and rate tried: held when most of its tries held. */
  verdicts: { receiver: LoadReceiver; rate: number; tries: number; held: boolean }[];
  /** Highest rate held (0 if none was). */
  highest: Record<LoadReceiver, number>;
  /** Whether the search stopped because a rate was not held (false: it ran out of rates). */
  foundLimit: Record<LoadReceiver, boolean>;
}

export interface CpuRound {
  receiver: LoadReceiver;
  round: number;
  ok: number;
  /** µs of CPU per delivery answered: the receiver's process, the PostgreSQL server, both. */
  receiverUs: number;
  postgresUs: number;
  totalUs: number;
}

export interface CpuComparison {
  rate: number;
  seconds: number;
  rounds: CpuRound[];
  /** Median per receiver of each round's figures. */
  median: Record<LoadReceiver, { receiverUs: number; postgresUs: number; totalUs: number }>;
  /** hybrid ÷ bare of the medians. */
  ratio: { receiver: number; postgres: number; total: number };
}

export interface ColdStartRun {
  receiver: LoadReceiver;
  spawn: number;
  /** From spawning the process until it listens (module loading through tsx, which Netlify's bundle does not need). */
  readyMs: number;
  /** Each delivery's latency, in order, one at a time. */
  latencies: number[];
  errors: number;
  first: number;
  /** Median of deliveries 2–10 and of 11 onwards. */
  p50Next9: number;
  p50Rest: number;
  /** Sum of all latencies: the extra a cold instance costs is this minus n × p50Rest. */
  totalMs: number;
}

export interface AckGoals {
  /** Hybrid p99 at the steady rate ≤ 25 ms, or ≤ 1.5 × bare's. */
  steadyP99: { hybrid: number; bare: number; ratio: number; met: boolean } | null;
  /** Highest rate held by the hybrid receiver ≥ 0.8 × bare's. */
  sustainable: { hybrid: number; bare: number; ratio: number; met: boolean; bareFoundLimit: boolean } | null;
}

export interface AckResult {
  name: 'ack';
  options: Omit<AckOptions, 'log'>;
  startedAt: string;
  finishedAt: string;
  payloadBytes: number;
  sizes: AckSizeResult[];
  steady: SteadyResult | null;
  search: SearchResult | null;
  /** Null when skipped or where /proc cannot tell. */
  cpu: CpuComparison | null;
  coldStart: ColdStartRun[];
  goals: AckGoals;
  /** Median in-process cost of each hybrid step, ms (for "where the time goes"). */
  breakdown: { verify: number; parse: number; receiveRoundTrip: number };
  /** Drain kicks the stand-in received (one per burst: the marker coalesces them). */
  kicks: number;
  /** The Node both receivers ran on (Netlify's, Node 22, when installed). */
  receiverNode: string;
  /** Rows at the end vs deliveries answered 200/202 by each receiver. */
  recorded: { deliveries: number; answered: number; queuedJobs: number; bareRows: number; bareAnswered: number };
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

function pullRequests(count: number, workspaces: number): PreparedDelivery[] {
  return Array.from({ length: count }, () => prepareDelivery('pull_request', pullRequestOpened(repoFor(workspaces))));
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

/** Checkpoints so far on the server (timed and requested). */
async function checkpointCount(query: QueryFn): Promise<number> {
  const [row] = await query('select (checkpoints_timed + checkpoints_req)::int as n from pg_stat_bgwriter', []);
  return Number(row?.n);
}

async function loadRun(
  receiver: LoadReceiver,
  url: string,
  rate: number,
  seconds: number,
  workspaces: number,
  agent: Agent,
  query: QueryFn,
): Promise<LoadRun> {
  const deliveries = pullRequests(Math.round(rate * seconds), workspaces);
  const before = await checkpointCount(query);
  const run = await openLoop(url, deliveries, rate, agent);
  const checkpoints = (await checkpointCount(query)) - before;
  return {
    checkpoints,
    receiver,
    rate,
    seconds,
    sent: deliveries.length,
    achievedRate: run.achievedRate,
    maxScheduleLagMs: run.maxScheduleLagMs,
    ...summarizeAnswers(run.answers, [202]),
  };
}

/** Alternating open-loop runs of each receiver, CPU per delivery from /proc (null where it cannot tell). */
async function cpuComparison(
  options: NonNullable<AckOptions['cpu']>,
  urls: Record<LoadReceiver, string>,
  pids: Record<LoadReceiver, number | undefined>,
  workspaces: number,
  agent: Agent,
  count: (ok: number, receiver: LoadReceiver) => void,
): Promise<CpuComparison | null> {
  const rounds: CpuRound[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const receiver of (round % 2 === 1 ? ['bare', 'hybrid'] : ['hybrid', 'bare']) as LoadReceiver[]) {
      const deliveries = pullRequests(Math.round(options.rate * options.seconds), workspaces);
      await sleep(1_000);
      const before = { own: processCpuMs(pids[receiver]), server: postgresCpuByPid() };
      const run = await openLoop(urls[receiver], deliveries, options.rate, agent);
      const after = { own: processCpuMs(pids[receiver]), server: before.server && postgresCpuSince(before.server) };
      const ok = summarizeAnswers(run.answers, [202]).ok;
      count(ok, receiver);
      if (before.own === null || after.own === null || after.server === null || ok === 0) return null;
      const per = (ms: number) => Math.round((ms * 1000) / ok);
      const receiverUs = per(after.own - before.own);
      const postgresUs = per(after.server);
      rounds.push({ receiver, round, ok, receiverUs, postgresUs, totalUs: receiverUs + postgresUs });
    }
  }
  const medianOf = (receiver: LoadReceiver) => {
    const mine = rounds.filter((r) => r.receiver === receiver);
    return {
      receiverUs: summarize(mine.map((r) => r.receiverUs)).p50,
      postgresUs: summarize(mine.map((r) => r.postgresUs)).p50,
      totalUs: summarize(mine.map((r) => r.totalUs)).p50,
    };
  };
  const median = { bare: medianOf('bare'), hybrid: medianOf('hybrid') };
  return {
    rate: options.rate,
    seconds: options.seconds,
    rounds,
    median,
    ratio: {
      receiver: ratio(median.hybrid.receiverUs, median.bare.receiverUs),
      postgres: ratio(median.hybrid.postgresUs, median.bare.postgresUs),
      total: ratio(median.hybrid.totalUs, median.bare.totalUs),
    },
  };
}

async function breakdown(url: string, workspaces: number, samples: number): Promise<AckResult['breakdown']> {
  const db = createPostgresDatabase(url);
  const prepared = prepare(workspaces);
  const repo = repoFor(workspaces);
  const hold = loadConfig({}).drain.kickHoldSeconds;
  const times = { verify: [] as number[], parse: [] as number[], receiveRoundTrip: [] as number[] };
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
      const received = await receiveQueued(db, {
        deliveryId: id,
        bodySha256: createHash('sha256').update(body).digest('hex'),
        event: 'pull_request',
        action: 'opened',
        repository: repo.fullName,
        repositoryId: repo.githubId,
        responseMs: 1,
        job: {
          type: 'webhook/pull_request',
          payload: jobPayloadOf(parsed.delivery, new Date().toISOString()),
          priority: jobPriority('pull_request'),
          max_retries: 5,
          coalesce_key: null,
        },
        kickHoldSeconds: hold,
      });
      const receive = performance.now() - t;
      if (received.route !== 'queued') throw new Error(`breakdown delivery routed ${received.route}`);
      if (i < 5) continue; // warm-up
      times.verify.push(verify);
      times.parse.push(parse);
      times.receiveRoundTrip.push(receive);
    }
  } finally {
    await db.close();
  }
  return {
    verify: summarize(times.verify).p50,
    parse: summarize(times.parse).p50,
    receiveRoundTrip: summarize(times.receiveRoundTrip).p50,
  };
}

const RECEIVER_SERVER = fileURLToPath(new URL('./lib/receiver-server.ts', import.meta.url));
const BARE_RECEIVER = fileURLToPath(new URL('./lib/bare-receiver.ts', import.meta.url));

export async function run(partial: Partial<AckOptions> = {}): Promise<AckResult> {
  const options: AckOptions = { ...FULL_ACK, ...partial };
  const log = options.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const db = await createBenchDatabase('ack');
  const children: Child[] = [];
  const maxRate = Math.max(options.steady?.rate ?? 0, ...(options.search?.rates ?? [0]));
  const agent = keepAliveAgent(Math.max(64, Math.ceil(maxRate / 2)));
  try {
    for (const n of new Set([...options.sizes, options.loadWorkspaces])) await seedRepository(db.query, { ...repoFor(n), workspaces: n });
    await createBareTable(db.query);

    const standin = await startStandin(options.standinDelayMs);
    children.push(standin);
    const receiverEnv = {
      DATABASE_URL: db.url,
      GITHUB_WEBHOOK_SECRET: BENCH_SECRET,
      INNGEST_EVENT_KEY: 'bench-event-key',
      INNGEST_BASE_URL: standin.url,
      PROCESS_WEBHOOK_URL: `${standin.url}/kick`,
      PROCESS_WEBHOOK_SECRET: 'bench-drain-secret',
    };
    const bareEnv = { DATABASE_URL: db.url, GITHUB_WEBHOOK_SECRET: BENCH_SECRET, BENCH_BARE_RECEIVER: '1' };
    // Both receivers on the Node that Netlify runs the functions on (Node 22, netlify.toml).
    const node = { execPath: productionNode() };
    const receiver = await startChild(RECEIVER_SERVER, receiverEnv, node);
    children.push(receiver);
    const bare = await startChild(BARE_RECEIVER, bareEnv, node);
    children.push(bare);
    const hybridUrl = `${receiver.url}${HYBRID_PATH}`;
    const syncUrl = `${receiver.url}${SYNC_PATH}`;
    const urls: Record<LoadReceiver, string> = { hybrid: hybridUrl, bare: `${bare.url}/` };

    let answered = 0;
    let bareAnswered = 0;
    const send = async (url: string, prepared: Prepared) => {
      const { body, signed } = prepared.next();
      const r = await post(url, body, deliveryHeaders('pull_request', body, signed), agent);
      if (r.status === 200 || r.status === 202) answered += 1;
      return r;
    };
    const count = (r: LoadRun) => {
      if (r.receiver === 'hybrid') answered += r.ok;
      else bareAnswered += r.ok;
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

    // Warm both load receivers alike before anything is measured under load.
    for (const receiverName of ['bare', 'hybrid'] as const) {
      const { deliveries, rate } = options.loadWarmup;
      const warm = await openLoop(urls[receiverName], pullRequests(deliveries, options.loadWorkspaces), rate, agent);
      const ok = summarizeAnswers(warm.answers, [202]).ok;
      if (receiverName === 'hybrid') answered += ok;
      else bareAnswered += ok;
    }
    // What the warm-ups wrote is flushed before the first measured run, which is the bare one's.
    await db.query('checkpoint', []);
    await sleep(2_000);

    let steady: SteadyResult | null = null;
    if (options.steady) {
      const { rate, seconds } = options.steady;
      log(`steady load: ${rate}/s for ${seconds} s, bare then hybrid…`);
      const b = await loadRun('bare', urls.bare, rate, seconds, options.loadWorkspaces, agent, db.query);
      count(b);
      await sleep(1_000);
      const h = await loadRun('hybrid', urls.hybrid, rate, seconds, options.loadWorkspaces, agent, db.query);
      count(h);
      steady = { rate, seconds, hybrid: h, bare: b, ratio: { p50: ratio(h.latency.p50, b.latency.p50), p99: ratio(h.latency.p99, b.latency.p99) } };
      for (const r of [b, h]) {
        log(`steady ${r.receiver}: sent ${r.sent}, ok ${r.ok}, errors ${r.errors}, achieved ${r.achievedRate}/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, ${r.checkpoints} checkpoints`);
      }
    }

    let search: SearchResult | null = null;
    if (options.search) {
      const { rates, stepSeconds, p99BudgetMs, tries } = options.search;
      const going: Record<LoadReceiver, boolean> = { bare: true, hybrid: true };
      const highest: Record<LoadReceiver, number> = { bare: 0, hybrid: 0 };
      const steps: SearchStep[] = [];
      const verdicts: SearchResult['verdicts'] = [];
      const needed = Math.floor(tries / 2) + 1;
      for (const [k, rate] of rates.entries()) {
        const tally: Record<LoadReceiver, { held: number; not: number }> = { bare: { held: 0, not: 0 }, hybrid: { held: 0, not: 0 } };
        const decided = (name: LoadReceiver) => tally[name].held >= needed || tally[name].not >= needed;
        for (let attempt = 1; attempt <= tries; attempt++) {
          // Alternate which receiver goes first, so neither always runs right after the other.
          const order: LoadReceiver[] = (k + attempt) % 2 === 0 ? ['bare', 'hybrid'] : ['hybrid', 'bare'];
          for (const name of order) {
            if (!going[name] || decided(name)) continue;
            await sleep(1_000);
            const r = await loadRun(name, urls[name], rate, stepSeconds, options.loadWorkspaces, agent, db.query);
            count(r);
            const missed: SearchStep['missed'] = [];
            if (r.latency.p99 > p99BudgetMs) missed.push('p99');
            if (r.errors > 0) missed.push('errors');
            if (r.achievedRate < 0.95 * rate) missed.push('generator');
            const held = missed.length === 0;
            steps.push({ ...r, try: attempt, held, missed });
            tally[name][held ? 'held' : 'not'] += 1;
            log(
              `search ${name} ${rate}/s try ${attempt}: p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, errors ${r.errors}, ` +
                `achieved ${r.achievedRate}/s, ${r.checkpoints} checkpoints → ${held ? 'held' : 'NOT held'}`,
            );
          }
        }
        for (const name of ['bare', 'hybrid'] as const) {
          if (!going[name]) continue;
          const held = tally[name].held >= needed;
          verdicts.push({ receiver: name, rate, tries: tally[name].held + tally[name].not, held });
          if (held) highest[name] = rate;
          else going[name] = false;
        }
        if (!going.bare && !going.hybrid) break;
      }
      search = { p99BudgetMs, stepSeconds, steps, verdicts, highest, foundLimit: { bare: !going.bare, hybrid: !going.hybrid } };
    }

    let cpu: CpuComparison | null = null;
    if (options.cpu) {
      const { rate, seconds, rounds } = options.cpu;
      log(`CPU per delivery: ${rate}/s for ${seconds} s, ${rounds} rounds of each receiver…`);
      const pids = { bare: bare.process.pid, hybrid: receiver.process.pid };
      cpu = await cpuComparison(options.cpu, urls, pids, options.loadWorkspaces, agent, (ok, name) => {
        if (name === 'hybrid') answered += ok;
        else bareAnswered += ok;
      });
      for (const r of cpu?.rounds ?? []) {
        log(`cpu ${r.receiver} round ${r.round}: receiver ${r.receiverUs} µs, PostgreSQL ${r.postgresUs} µs per delivery (${r.ok} answered)`);
      }
      if (cpu) log(`cpu hybrid ÷ bare (medians): receiver ×${cpu.ratio.receiver}, PostgreSQL ×${cpu.ratio.postgres}, both ×${cpu.ratio.total}`);
    }

    const coldStart: ColdStartRun[] = [];
    if (options.coldStart) {
      for (let spawn = 1; spawn <= options.coldStart.spawns; spawn++) {
        for (const name of ['bare', 'hybrid'] as const) {
          const deliveries = pullRequests(options.coldStart.deliveries, options.loadWorkspaces);
          const t = performance.now();
          const fresh = await startChild(name === 'bare' ? BARE_RECEIVER : RECEIVER_SERVER, name === 'bare' ? bareEnv : receiverEnv, node);
          const readyMs = performance.now() - t;
          const coldAgent = keepAliveAgent(1);
          try {
            const answers = await oneAtATime(`${fresh.url}${name === 'bare' ? '/' : HYBRID_PATH}`, deliveries, coldAgent);
            const latencies = answers.map((a) => Math.round(a.ms * 1000) / 1000);
            const ok = summarizeAnswers(answers, [202]).ok;
            if (name === 'hybrid') answered += ok;
            else bareAnswered += ok;
            coldStart.push({
              receiver: name,
              spawn,
              readyMs: Math.round(readyMs),
              latencies,
              errors: answers.length - ok,
              first: latencies[0] ?? Number.NaN,
              p50Next9: summarize(latencies.slice(1, 10)).p50,
              p50Rest: summarize(latencies.slice(10)).p50,
              totalMs: Math.round(latencies.reduce((a, b) => a + b, 0) * 10) / 10,
            });
            log(`cold start ${name} #${spawn}: ready in ${Math.round(readyMs)} ms, first answer ${latencies[0]} ms, 2–10 p50 ${summarize(latencies.slice(1, 10)).p50} ms, rest p50 ${summarize(latencies.slice(10)).p50} ms`);
          } finally {
            coldAgent.destroy();
            await fresh.stop();
          }
        }
      }
    }

    await sleep(200); // let the last kicks land
    const kicks = (await standin.stats()).kicks;
    const [counts] = await db.query(
      `select (select count(*) from public.webhook_deliveries)::int as deliveries,
              (select count(*) from public.background_jobs)::int as jobs,
              (select count(*) from public.bench_bare_deliveries)::int as bare`,
      [],
    );
    const steps = await breakdown(db.url, options.loadWorkspaces, options.breakdownSamples);

    const goals: AckGoals = { steadyP99: null, sustainable: null };
    if (steady) {
      const { hybrid, bare: b } = steady;
      goals.steadyP99 = {
        hybrid: hybrid.latency.p99,
        bare: b.latency.p99,
        ratio: steady.ratio.p99,
        met: hybrid.errors === 0 && (hybrid.latency.p99 <= 25 || hybrid.latency.p99 <= 1.5 * b.latency.p99),
      };
    }
    if (search) {
      goals.sustainable = {
        hybrid: search.highest.hybrid,
        bare: search.highest.bare,
        ratio: ratio(search.highest.hybrid, search.highest.bare),
        met: search.highest.bare > 0 && search.highest.hybrid >= 0.8 * search.highest.bare,
        bareFoundLimit: search.foundLimit.bare,
      };
    }

    return {
      name: 'ack',
      options: { ...options, log: undefined } as Omit<AckOptions, 'log'>,
      startedAt,
      finishedAt: new Date().toISOString(),
      payloadBytes: Buffer.byteLength(prepare(options.loadWorkspaces).next().body),
      sizes,
      steady,
      search,
      cpu,
      coldStart,
      goals,
      breakdown: steps,
      kicks,
      receiverNode: execFileSync(node.execPath, ['--version'], { encoding: 'utf8' }).trim(),
      recorded: {
        deliveries: Number(counts?.deliveries),
        answered,
        queuedJobs: Number(counts?.jobs),
        bareRows: Number(counts?.bare),
        bareAnswered,
      },
    };
  } finally {
    agent.destroy();
    for (const child of children.reverse()) await child.stop().catch(() => {});
    await db.drop();
  }
}
