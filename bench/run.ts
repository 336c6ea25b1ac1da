/**
 * `npm run bench`: every benchmark at full size on real PostgreSQL, each result written to
 * bench/results/<name>.json (with the machine it ran on), a summary printed and written to
 * bench/results/summary.md. The queue comparison runs under the pinned Node 22
 * (node_modules/node/bin/node), which pg-boss and graphile-worker require.
 *
 *   npm run bench                       all of them
 *   npm run bench -- --only ack,queue   some of them (ack, fanout, verify, queue, freshness, kicks, growth, plans, status)
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../src/node/migrations.ts';
import { run as runAck, type AckResult } from './ack.ts';
import { run as runFanout, type FanoutResult } from './fanout.ts';
import { run as runFreshness, type FreshnessResult } from './freshness.ts';
import { run as runGrowth, type GrowthResult } from './growth.ts';
import { run as runKicks, type KicksResult } from './kicks.ts';
import { run as runPlans, type PlansResult } from './plans.ts';
import type { QueueResult } from './queue.ts';
import { GOAL_MS as STATUS_GOAL_MS, run as runStatus, type StatusResult } from './status.ts';
import { run as runVerify, type VerifyResult } from './verify.ts';
import { NODE22 } from './lib/child.ts';
import { serverUrl, serverVersion } from './lib/db.ts';

export const RESULTS_DIR = join(PROJECT_ROOT, 'bench/results');
const NAMES = ['ack', 'fanout', 'verify', 'queue', 'freshness', 'kicks', 'growth', 'plans', 'status'] as const;
type Name = (typeof NAMES)[number];

export interface Environment {
  date: string;
  command: string;
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  node: string;
  node22: string | null;
  postgres: string;
  loadAverageStart: number[];
  loadAverageEnd?: number[];
  /** Per benchmark: how long it took and the 1/5/15-minute load averages before and after it. */
  benchmarks?: { name: string; seconds: number; loadStart: number[]; loadEnd: number[] }[];
}

async function environment(): Promise<Environment> {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux
  }
  let node22: string | null = null;
  if (existsSync(NODE22)) node22 = (await promisify(execFile)(NODE22, ['--version'])).stdout.trim();
  return {
    date: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    cpuModel,
    cpus: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    node22,
    postgres: await serverVersion(),
    loadAverageStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** The queue comparison in a Node 22 child; its result file is read back. */
async function runQueue(log: (line: string) => void): Promise<QueueResult> {
  if (!existsSync(NODE22)) throw new Error(`${NODE22} is missing: npm install (the "node" devDependency pins Node 22)`);
  const out = join(tmpdir(), `webhook-router-bench-queue-${process.pid}.json`);
  await new Promise<void>((resolve, reject) => {
    const child = spawn(NODE22, ['--import', 'tsx', 'bench/queue.ts', '--out', out], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DATABASE_URL: serverUrl() },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.setEncoding('utf8');
    let buffered = '';
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      lines.forEach((line) => log(line));
    });
    child.on('error', reject);
    // Exit code 1 means some scenario failed: its error is in the result, which is still reported.
    child.on('exit', (code) => (code === 0 || code === 1 ? resolve() : reject(new Error(`queue benchmark exited with ${code}`))));
  });
  const result = JSON.parse(readFileSync(out, 'utf8')) as QueueResult;
  rmSync(out, { force: true });
  return result;
}

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : '–');

export function formatSummary(results: {
  environment: Environment;
  ack?: AckResult;
  fanout?: FanoutResult;
  verify?: VerifyResult;
  queue?: QueueResult;
  status?: StatusResult;
  freshness?: FreshnessResult;
  kicks?: KicksResult;
  growth?: GrowthResult;
  plans?: PlansResult;
}): string {
  const lines: string[] = [];
  const e = results.environment;
  lines.push(
    `Machine: ${e.cpuModel}, ${e.cpus} CPUs, ${e.memoryGiB} GiB; Node ${e.node} (queue: ${e.node22 ?? 'n/a'}); PostgreSQL ${e.postgres}`,
    `Date: ${e.date}; command: ${e.command}; load average at start ${e.loadAverageStart.join(' / ')}${e.loadAverageEnd ? `, at end ${e.loadAverageEnd.join(' / ')}` : ''}`,
    '',
  );
  if (e.benchmarks?.length) {
    lines.push('| benchmark | took | load average before (1/5/15 min) | after |', '|---|---:|---|---|');
    for (const b of e.benchmarks) lines.push(`| ${b.name} | ${b.seconds} s | ${b.loadStart.join(' / ')} | ${b.loadEnd.join(' / ')} |`);
    lines.push('');
  }
  const { ack, fanout, verify, queue, status } = results;
  if (ack) {
    lines.push(
      `### Ack latency (ms; ${ack.options.samples} deliveries per receiver and size, pull_request opened, ${ack.payloadBytes} B; Inngest stand-in ${ack.options.standinDelayMs} ms; receivers on Node ${ack.receiverNode})`,
      '',
      '| workspaces | hybrid p50 | p95 | p99 | sync p50 | p95 | p99 | sync ÷ hybrid p50 | p95 | p99 | errors |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const s of ack.sizes) {
      lines.push(
        `| ${s.workspaces} | ${ms(s.hybrid.p50)} | ${ms(s.hybrid.p95)} | ${ms(s.hybrid.p99)} | ${ms(s.sync.p50)} | ${ms(s.sync.p95)} | ${ms(s.sync.p99)} | ×${s.ratio.p50} | ×${s.ratio.p95} | ×${s.ratio.p99} | ${s.hybrid.errors + s.sync.errors} |`,
      );
    }
    const yes = (met: boolean | null | undefined) => (met ? 'met' : met === false ? 'NOT met' : 'n/a');
    if (ack.steady) {
      const st = ack.steady;
      lines.push(
        '',
        `Steady open loop, ${st.rate}/s for ${st.seconds} s each (pull_request opened, every body unique; hybrid kicks a stand-in that answers 202 at once):`,
        '',
        '| receiver | sent | 202 | errors | achieved/s | p50 | p95 | p99 | max | checkpoints |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      );
      for (const r of [st.bare, st.hybrid]) {
        lines.push(`| ${r.receiver} | ${r.sent} | ${r.ok} | ${r.errors} | ${r.achievedRate} | ${ms(r.latency.p50)} | ${ms(r.latency.p95)} | ${ms(r.latency.p99)} | ${ms(r.latency.max)} | ${r.checkpoints} |`);
      }
      const g = ack.goals.steadyP99;
      lines.push('', `hybrid ÷ bare: p50 ×${st.ratio.p50}, p99 ×${st.ratio.p99}. Goal (hybrid p99 ≤ 25 ms or ≤ 1.5 × bare): ${yes(g?.met)}.`);
    }
    if (ack.search) {
      const se = ack.search;
      lines.push(
        '',
        `Stepped search (${se.stepSeconds} s per try; a try holds with p99 ≤ ${se.p99BudgetMs} ms, no error and ≥ 95 % of the rate sent; a rate holds when most of up to ${ack.options.search?.tries} tries do; checkpoints: forced or timed checkpoints the shared server ran during the try):`,
        '',
        '| rate/s | bare tries: p50 / p99 (checkpoints) | bare | hybrid tries: p50 / p99 (checkpoints) | hybrid |',
        '|---:|---|---|---|---|',
      );
      for (const rate of [...new Set(se.steps.map((x) => x.rate))]) {
        const cell = (receiver: 'bare' | 'hybrid') => {
          const tries = se.steps.filter((x) => x.rate === rate && x.receiver === receiver);
          const verdict = se.verdicts.find((v) => v.rate === rate && v.receiver === receiver);
          if (!tries.length || !verdict) return '– | –';
          const text = tries.map((x) => `${ms(x.latency.p50)} / ${ms(x.latency.p99)}${x.errors ? ` (${x.errors} errors)` : ''}${x.missed.includes('generator') ? ` (generator sent ${x.achievedRate}/s)` : ''}${x.checkpoints ? ` (${x.checkpoints})` : ''}`).join('; ');
          return `${text} | ${verdict.held ? 'held' : '**not held**'}`;
        };
        lines.push(`| ${rate} | ${cell('bare')} | ${cell('hybrid')} |`);
      }
      const g = ack.goals.sustainable;
      lines.push(
        '',
        `Highest rate held: bare ${se.highest.bare}/s${se.foundLimit.bare ? '' : ' (the search ran out of rates)'}, hybrid ${se.highest.hybrid}/s${se.foundLimit.hybrid ? '' : ' (the search ran out of rates)'}; hybrid ÷ bare ×${g?.ratio}. Goal (≥ 0.8 × bare): ${yes(g?.met)}.`,
      );
    }
    if (ack.cpu) {
      const c = ack.cpu;
      lines.push(
        '',
        `CPU per delivery at ${c.rate}/s (${c.seconds} s per round, receivers alternating; µs from /proc: the receiver's process, the PostgreSQL server):`,
        '',
        '| receiver | round | answered | receiver µs | PostgreSQL µs | both µs |',
        '|---|---:|---:|---:|---:|---:|',
      );
      for (const r of c.rounds) lines.push(`| ${r.receiver} | ${r.round} | ${r.ok} | ${r.receiverUs} | ${r.postgresUs} | ${r.totalUs} |`);
      lines.push(
        '',
        // Each column's own median: "both" is the rounds' totals' median, not the sum of the other two.
        `Medians of the rounds (receiver, PostgreSQL, both µs): bare ${c.median.bare.receiverUs}, ${c.median.bare.postgresUs}, ${c.median.bare.totalUs}; hybrid ${c.median.hybrid.receiverUs}, ${c.median.hybrid.postgresUs}, ${c.median.hybrid.totalUs}; hybrid ÷ bare: receiver ×${c.ratio.receiver}, PostgreSQL ×${c.ratio.postgres}, both ×${c.ratio.total}.`,
      );
    }
    if (ack.coldStart.length) {
      lines.push('', 'Cold start (a fresh process; deliveries one at a time; ms):', '', '| receiver | spawn | ready | 1st | 2nd–10th p50 | 11th+ p50 | all 50 |', '|---|---:|---:|---:|---:|---:|---:|');
      for (const c of ack.coldStart) {
        lines.push(`| ${c.receiver} | ${c.spawn} | ${c.readyMs} | ${ms(c.first)} | ${ms(c.p50Next9)} | ${ms(c.p50Rest)} | ${ms(c.totalMs)} |`);
      }
    }
    const b = ack.breakdown;
    lines.push(
      '',
      `Hybrid steps, in-process medians: verify ${ms(b.verify)} ms, parse ${ms(b.parse)} ms, receive_webhook_delivery round trip (dedup, count, record, enqueue) ${ms(b.receiveRoundTrip)} ms. Kicks received by the stand-in: ${ack.kicks}.`,
      '',
    );
  }
  if (fanout) {
    lines.push(
      `### Drain fan-out (one pull_request opened job; ${fanout.options.runs} runs per size; stand-in ${fanout.options.standinDelayMs} ms)`,
      '',
      '| workspaces | wall p50 | wall max | CPU p50 | CPU max | CPU p50 ÷ 2 s | events | Inngest requests | completed |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const s of fanout.sizes) {
      lines.push(
        `| ${s.workspaces} | ${ms(s.wallMs.p50)} | ${ms(s.wallMs.max)} | ${ms(s.cpuMs.p50)} | ${ms(s.cpuMs.max)} | ${(s.cpuShareOfEdgeBudget * 100).toFixed(1)}% | ${s.eventsPerJob} | ${s.inngestRequestsPerJob} | ${s.completed}/${s.runs} |`,
      );
    }
    lines.push('');
  }
  if (queue) {
    lines.push(
      `### Queue core (${queue.options.jobs} jobs per run, batch ${queue.options.batchSize}; each scenario ${queue.options.repeats} times, medians; ${queue.node})`,
      '',
      '| system | statistics | workers | claim+complete jobs/s (median) | every run | enqueue jobs/s | claim p50 ms | claim p99 ms | errors |',
      '|---|---|---:|---:|---|---:|---:|---:|---|',
    );
    for (const m of queue.medians) {
      lines.push(
        `| ${m.system} | ${m.statistics} | ${m.workers} | ${m.jobsPerSecond} | ${m.all.join(', ')} | ${m.enqueueJobsPerSecond} | ${ms(m.claimP50Ms)} | ${ms(m.claimP99Ms)} | ${m.errors.join('; ')} |`,
      );
    }
    lines.push('', '| system | stale ÷ fresh, by workers |', '|---|---|');
    for (const [system, byWorkers] of Object.entries(queue.staleRatio)) {
      lines.push(`| ${system} | ${Object.entries(byWorkers).map(([w, r]) => `${w}: ×${r}`).join(', ')} |`);
    }
    const t = queue.targets;
    const w = Math.max(...queue.options.workers);
    lines.push(
      '',
      `Goals with ${w} workers: real-delivery jobs (ours-real, fresh statistics) ${t.oursRealJobsPerSecond} jobs/s (≥ 10000: ${t.meetsReal10k ? 'met' : 'NOT met'}); ` +
        `tiny jobs ÷ bare, median of the back-to-back pairs ${Object.entries(t.tinyVsBare).map(([k, v]) => `${k} ×${v} (pairs ${t.tinyVsBarePairs[k as 'fresh' | 'stale']?.join(', ')})`).join('; ')} (≥ 0.7: ${t.meetsTinyVsBare ? 'met' : 'NOT met'}); ` +
        `ours stale ÷ fresh ${t.oursStaleRatio} (≥ 0.7 at every worker count: ${t.meetsStaleRatio ? 'yes' : 'NO'}).`,
      '',
    );
  }
  if (verify) {
    lines.push(
      '### Signature verification (ms)',
      '',
      '| body | iterations | verifySignature p50 | p99 | raw HMAC p50 | p99 | ratio (p50) | UTF-8 decode p50 |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const s of verify.sizes) {
      const size = s.bytes >= 2 ** 20 ? `${s.bytes / 2 ** 20} MiB` : `${s.bytes / 1024} KiB`;
      lines.push(
        `| ${size} | ${s.iterations} | ${s.verifySignature.p50.toFixed(3)} | ${s.verifySignature.p99.toFixed(3)} | ${s.rawHmac.p50.toFixed(3)} | ${s.rawHmac.p99.toFixed(3)} | ×${s.ratio} | ${s.utf8Decode.p50.toFixed(3)} |`,
      );
    }
    lines.push('');
  }
  if (status) {
    const o = status.options;
    lines.push(
      `### Status page data (${o.deliveries} deliveries + ${status.seed.duplicates} duplicates, ${o.jobs} jobs over 7 days; ${o.samples} reads per window)`,
      '',
      '| window | bucket | deliveries in window | page p50 | p95 | max | raw deliveries panel p50 | JSON bytes |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const w of status.windows) {
      lines.push(
        `| ${w.window} | ${w.bucketSeconds} s | ${w.deliveriesInWindow} | ${ms(w.page.p50)} | ${ms(w.page.p95)} | ${ms(w.page.max)} | ${ms(w.rawMs.p50)} | ${w.bytes} |`,
      );
    }
    const c = status.completeIndex;
    lines.push(
      '',
      `Goal ≤ ${STATUS_GOAL_MS} ms at p95 for every window: ${status.meetsGoal ? 'yes' : 'NO'}. First read with nothing rolled up: ${status.coldReadMs} ms; catch-up pass over the rest of the week: ${status.firstReadMs} ms; one-minute passes p50 ${ms(status.rollupPassMs.p50)} ms, max ${ms(status.rollupPassMs.max)} ms. Round complete (drain SQL, rounds of 50): ${c.withIndexJobsPerSecond} jobs/s with background_jobs_completed_idx, ${c.withoutIndexJobsPerSecond} without (×${c.ratio}).`,
      '',
    );
  }
  const { freshness, kicks, growth, plans } = results;
  if (freshness) {
    lines.push(
      `### Freshness: delivery sent → first Inngest event (${freshness.options.rate}/s for ${freshness.options.seconds} s per phase; ${freshness.options.workspaces} workspaces per repository; push debounce ${freshness.settings.pushDebounceSeconds} s; no sweep)`,
      '',
      '| variant | event | sent | jobs | drain invocations | ack p99 | p50 | p95 | p99 | max | missing | goal | verdict |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    );
    for (const v of freshness.variants) {
      for (const p of v.phases) {
        lines.push(
          `| ${v.label} | ${p.event} | ${p.sent} | ${p.jobs} | ${p.drain.invocations} | ${ms(p.ack.latency.p99)} | ${ms(p.freshness.p50)} | ${ms(p.freshness.p95)} | ${ms(p.freshness.p99)} | ${ms(p.freshness.max)} | ${p.missing} | ${p.event === 'push' ? 'max' : 'p99'} ≤ ${p.goalMs} | ${p.met ? 'met' : 'NOT met'} |`,
        );
      }
    }
    lines.push('');
  }
  if (kicks) {
    lines.push(
      `### Edge invocations per queued delivery (${kicks.options.rate}/s for ${kicks.options.seconds} s, real drain, no sweep)`,
      '',
      '| variant | queued | drain invocations | deliveries per invocation | goal ≥ 20 | ack p50 | ack p99 | jobs completed | drained after |',
      '|---|---:|---:|---:|---|---:|---:|---:|---:|',
    );
    for (const v of kicks.variants) {
      lines.push(
        `| ${v.label} | ${v.queued} | ${v.drain.invocations} | ${v.deliveriesPerInvocation} | ${v.met ? 'met' : 'NOT met'} | ${ms(v.ack.latency.p50)} | ${ms(v.ack.latency.p99)} | ${v.jobs.completed} of ${v.jobs.completed + v.jobs.queued + v.jobs.processing + v.jobs.failed} | ${v.drainedAfterMs === null ? `not within ${kicks.options.waitMs / 1000} s` : `${(v.drainedAfterMs / 1000).toFixed(1)} s`} |`,
      );
    }
    lines.push('');
  }
  if (growth) {
    const mib = (x: number) => (x / 2 ** 20).toFixed(1);
    const total = (s: GrowthResult['days'][number]['kept']) => Object.values(s).reduce((a, t) => a + t.tableBytes + t.indexBytes, 0);
    lines.push(
      `### Table growth (${growth.perDay.deliveries} deliveries, ${growth.perDay.jobs} jobs, ${growth.perDay.duplicates} duplicates per simulated day; RETENTION_DAYS ${growth.retention.completedDays}, FAILED_RETENTION_DAYS ${growth.retention.failedDays}; batches of ${growth.retention.batchSize})`,
      '',
      '| day | jobs kept / pruned | deliveries kept / pruned | MiB kept (jobs, deliveries, duplicates; table + index) | MiB pruned | rows removed | batches | batch p50 ms | batch max ms |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const d of growth.days) {
      const removed = Object.values(d.removed).reduce((a, b) => a + b, 0);
      lines.push(
        `| ${d.day} | ${d.kept.background_jobs.rows} / ${d.pruned.background_jobs.rows} | ${d.kept.webhook_deliveries.rows} / ${d.pruned.webhook_deliveries.rows} | ${mib(total(d.kept))} | ${mib(total(d.pruned))} | ${removed} | ${d.batches} | ${ms(d.batchMs.p50)} | ${ms(d.batchMs.max)} |`,
      );
    }
    lines.push('', `Every prune batch: p50 ${ms(growth.batchMs.p50)} ms, p99 ${ms(growth.batchMs.p99)} ms, max ${ms(growth.batchMs.max)} ms (${growth.batchMs.n} batches).`, '');
  }
  if (plans) {
    lines.push('### Monitoring functions at scale (client-side ms, median)', '', '| rows | function | now p50 | before p50 | before ÷ now | indexes now |', '|---:|---|---:|---:|---:|---|');
    for (const s of plans.sizes) {
      lines.push(
        `| ${s.rows} | count_pending_webhook_jobs() | ${ms(s.ms.countPending.p50)} | ${ms(s.ms.countPendingBefore.p50)} | ×${(s.ms.countPendingBefore.p50 / s.ms.countPending.p50).toFixed(1)} | ${s.indexesUsed.countPending.join(', ')} |`,
        `| ${s.rows} | get_job_statistics_summary(now() - 24 h) | ${ms(s.ms.statistics24h.p50)} | ${ms(s.ms.statistics24hBefore.p50)} | ×${(s.ms.statistics24hBefore.p50 / s.ms.statistics24h.p50).toFixed(1)} | ${s.indexesUsed.statistics24h.join(', ')} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const onlyIndex = process.argv.indexOf('--only');
  const only = onlyIndex >= 0 ? (process.argv[onlyIndex + 1] ?? '').split(',') : [...NAMES];
  const unknown = only.filter((n) => !(NAMES as readonly string[]).includes(n));
  if (unknown.length) throw new Error(`unknown benchmark(s) ${unknown.join(', ')}; choose from ${NAMES.join(', ')}`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
  const env = await environment();
  log(`server ${serverUrl().replace(/\/\/[^@]*@/, '//')} — PostgreSQL ${env.postgres}, Node ${env.node}, queue on ${env.node22}`);
  const results: Parameters<typeof formatSummary>[0] = { environment: env };
  const load = () => loadavg().map((x) => Math.round(x * 100) / 100);
  env.benchmarks = [];
  let current: { name: string; t: number; loadStart: number[] } | null = null;
  const save = (name: Name, result: unknown) => {
    const run = { name, seconds: Math.round((performance.now() - (current?.t ?? 0)) / 100) / 10, loadStart: current?.loadStart ?? [], loadEnd: load() };
    env.benchmarks?.push(run);
    writeFileSync(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify({ environment: env, run, ...(result as object) }, null, 2)}\n`);
  };
  const started = performance.now();
  for (const name of NAMES) {
    if (!only.includes(name)) continue;
    log(`— ${name} (load average ${load().join(' / ')})`);
    const t = performance.now();
    current = { name, t, loadStart: load() };
    if (name === 'ack') save(name, (results.ack = await runAck({ log })));
    if (name === 'fanout') save(name, (results.fanout = await runFanout({ log })));
    if (name === 'verify') save(name, (results.verify = await runVerify({ log })));
    if (name === 'queue') save(name, (results.queue = await runQueue(log)));
    if (name === 'freshness') save(name, (results.freshness = await runFreshness({ log })));
    if (name === 'kicks') save(name, (results.kicks = await runKicks({ log })));
    if (name === 'growth') save(name, (results.growth = await runGrowth({ log })));
    if (name === 'plans') save(name, (results.plans = await runPlans({ log })));
    if (name === 'status') save(name, (results.status = await runStatus({ log })));
    log(`  ${name} took ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  env.loadAverageEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  const summary = formatSummary(results);
  writeFileSync(join(RESULTS_DIR, 'summary.md'), `${summary}\n`);
  console.log(`\n${summary}`);
  log(`all done in ${((performance.now() - started) / 1000).toFixed(1)} s; results in bench/results/`);
}

if (process.argv[1] && /bench[\\/]run\.ts$/.test(process.argv[1])) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
