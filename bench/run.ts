/**
 * `npm run bench`: every benchmark at full size on real PostgreSQL, each result written to
 * bench/results/<name>.json (with the machine it ran on), a summary printed and written to
 * bench/results/summary.md. The queue comparison runs under the pinned Node 22
 * (node_modules/node/bin/node), which pg-boss and graphile-worker require.
 *
 *   npm run bench                       all five
 *   npm run bench -- --only ack,queue   some of them
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../src/node/migrations.ts';
import { run as runAck, type AckResult } from './ack.ts';
import { run as runFanout, type FanoutResult } from './fanout.ts';
import type { QueueResult } from './queue.ts';
import { GOAL_MS as STATUS_GOAL_MS, run as runStatus, type StatusResult } from './status.ts';
import { run as runVerify, type VerifyResult } from './verify.ts';
import { serverUrl, serverVersion } from './lib/db.ts';

export const RESULTS_DIR = join(PROJECT_ROOT, 'bench/results');
export const NODE22 = join(PROJECT_ROOT, 'node_modules/node/bin/node');
const NAMES = ['ack', 'fanout', 'verify', 'queue', 'status'] as const;
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
}): string {
  const lines: string[] = [];
  const e = results.environment;
  lines.push(
    `Machine: ${e.cpuModel}, ${e.cpus} CPUs, ${e.memoryGiB} GiB; Node ${e.node} (queue: ${e.node22 ?? 'n/a'}); PostgreSQL ${e.postgres}`,
    `Date: ${e.date}; command: ${e.command}; load average at start ${e.loadAverageStart.join(' / ')}${e.loadAverageEnd ? `, at end ${e.loadAverageEnd.join(' / ')}` : ''}`,
    '',
  );
  const { ack, fanout, verify, queue, status } = results;
  if (ack) {
    lines.push(
      `### Ack latency (ms; ${ack.options.samples} deliveries per receiver and size, pull_request opened, ${ack.payloadBytes} B; Inngest stand-in ${ack.options.standinDelayMs} ms)`,
      '',
      '| workspaces | hybrid p50 | p95 | p99 | sync p50 | p95 | p99 | sync ÷ hybrid p50 | p95 | p99 | errors |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const s of ack.sizes) {
      lines.push(
        `| ${s.workspaces} | ${ms(s.hybrid.p50)} | ${ms(s.hybrid.p95)} | ${ms(s.hybrid.p99)} | ${ms(s.sync.p50)} | ${ms(s.sync.p95)} | ${ms(s.sync.p99)} | ×${s.ratio.p50} | ×${s.ratio.p95} | ×${s.ratio.p99} | ${s.hybrid.errors + s.sync.errors} |`,
      );
    }
    if (ack.steady) {
      const st = ack.steady;
      lines.push(
        '',
        `Steady load on the hybrid receiver (${st.workspaces} workspaces): ${st.rate}/s for ${st.seconds} s → sent ${st.sent}, 202 ${st.ok}, errors ${st.errors}, achieved ${st.achievedRate}/s; latency p50 ${ms(st.latency.p50)} ms, p95 ${ms(st.latency.p95)} ms, p99 ${ms(st.latency.p99)} ms, max ${ms(st.latency.max)} ms.`,
      );
    }
    const b = ack.breakdown;
    lines.push(
      '',
      `Hybrid steps, in-process medians: verify ${ms(b.verify)} ms, parse ${ms(b.parse)} ms, inspect round trip ${ms(b.inspectRoundTrip)} ms, record (delivery + job, one transaction) ${ms(b.recordRoundTrip)} ms.`,
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
      `### Queue core (${queue.options.jobs} trivial jobs, batch ${queue.options.batchSize}; ${queue.node})`,
      '',
      '| system | statistics | workers | claim+complete jobs/s | enqueue jobs/s | claim p50 | claim p95 | claim p99 | claims | error |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
    );
    for (const r of queue.runs) {
      lines.push(
        `| ${r.system} | ${r.statistics} | ${r.workers} | ${r.process.jobsPerSecond} | ${r.enqueue.jobsPerSecond} | ${ms(r.claims.latency.p50)} | ${ms(r.claims.latency.p95)} | ${ms(r.claims.latency.p99)} | ${r.claims.count} | ${r.error ?? ''} |`,
      );
    }
    lines.push('', '| system | stale ÷ fresh, by workers |', '|---|---|');
    for (const [system, byWorkers] of Object.entries(queue.staleRatio)) {
      lines.push(`| ${system} | ${Object.entries(byWorkers).map(([w, r]) => `${w}: ×${r}`).join(', ')} |`);
    }
    const t = queue.targets;
    lines.push(
      '',
      `Targets: ours (one complete per claimed round, as the drain does) with ${Math.max(...queue.options.workers)} workers, fresh statistics: ${t.oursFreshJobsPerSecond} jobs/s (≥ 15000: ${t.meets15k ? 'yes' : 'NO'}); stale ÷ fresh ${t.oursStaleRatio} (≥ 0.7 at every worker count: ${t.meetsStaleRatio ? 'yes' : 'NO'}).`,
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
  const save = (name: Name, result: unknown) =>
    writeFileSync(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify({ environment: env, ...(result as object) }, null, 2)}\n`);
  const started = performance.now();
  for (const name of NAMES) {
    if (!only.includes(name)) continue;
    log(`— ${name}`);
    const t = performance.now();
    if (name === 'ack') save(name, (results.ack = await runAck({ log })));
    if (name === 'fanout') save(name, (results.fanout = await runFanout({ log })));
    if (name === 'verify') save(name, (results.verify = await runVerify({ log })));
    if (name === 'queue') save(name, (results.queue = await runQueue(log)));
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
