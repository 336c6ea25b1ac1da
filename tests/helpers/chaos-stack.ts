// Processes for the reliability suite: the local stack (`webhook-router start` on real Postgres),
// long-running drain workers (the real `drain` verb in a loop), and one-shot CLI verbs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, sleep } from './chaos-env.ts';
import { runCli as runCliProcess, type CliResult } from './cli.ts';
import { freePort } from './net.ts';

export { freePort };

export const BIN = join(ROOT, 'bin/webhook-router.mjs');
export const HYBRID_PATH = '/.netlify/functions/api-workspaces-webhook-hybrid';
export const SYNC_PATH = '/.netlify/functions/api-workspaces-webhook';
const WORKER = join(ROOT, 'tests/helpers/chaos-drain-worker.ts');

export const CHAOS_SECRET = 'chaos-webhook-secret';
export const CHAOS_EVENT_KEY = 'chaos-event-key';
export const CHAOS_DRAIN_SECRET = 'chaos-drain-secret';

/** PATH and HOME from the parent plus `extra`: nothing else (DATABASE_URL, INNGEST_*) leaks in. */
export function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: '1' };
  if (process.env.PATH) env.PATH = process.env.PATH;
  if (process.env.HOME) env.HOME = process.env.HOME;
  return { ...env, ...extra };
}

/** The environment of every chaos process: real Postgres, the Inngest stand-in, the shared secrets. */
export function stackEnv(input: { databaseUrl: string; inngestUrl: string; dataDir: string; extra?: Record<string, string> }): Record<string, string> {
  return childEnv({
    DATABASE_URL: input.databaseUrl,
    GITHUB_WEBHOOK_SECRET: CHAOS_SECRET,
    INNGEST_EVENT_KEY: CHAOS_EVENT_KEY,
    INNGEST_BASE_URL: input.inngestUrl,
    PROCESS_WEBHOOK_SECRET: CHAOS_DRAIN_SECRET,
    WEBHOOK_ROUTER_DATA_DIR: input.dataDir,
    ...input.extra,
  });
}

export function tempDataDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `wr-chaos-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}


/** Reads a child's stdout as JSON log lines without keeping all of it in memory. */
class LogTap {
  counts: Record<string, number> = {};
  jobOutcomes: Record<string, number> = {};
  /** completed 'job' lines per job id (the stack's drains log one per outcome). */
  completedJobLines = new Map<string, number>();
  notable: Record<string, unknown>[] = [];
  tail = '';
  private partial = '';

  constructor(private readonly keep: (entry: Record<string, unknown>) => boolean) {}

  push(text: string): void {
    this.tail = (this.tail + text).slice(-20_000);
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      const msg = String(entry.msg ?? '?');
      this.counts[msg] = (this.counts[msg] ?? 0) + 1;
      if (msg === 'job') {
        const outcome = String(entry.outcome);
        this.jobOutcomes[outcome] = (this.jobOutcomes[outcome] ?? 0) + 1;
        if (outcome === 'completed') {
          const id = String(entry.jobId);
          this.completedJobLines.set(id, (this.completedJobLines.get(id) ?? 0) + 1);
        }
      }
      if (this.keep(entry) && this.notable.length < 2_000) this.notable.push(entry);
    }
  }
}

export interface ChaosStack {
  child: ChildProcess;
  port: number;
  base: string;
  hybridUrl: string;
  logs: LogTap;
  stderr(): string;
  /** True while the process runs. */
  alive(): boolean;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const NOTABLE = new Set(['unhandled error', 'database unavailable', 'drain kick failed', 'timed drain failed', 'inline work failed', 'drain: database unavailable']);

/** `webhook-router start --port N --drain-interval S`, resolved once the port answers. */
export async function startChaosStack(env: Record<string, string>, options: { drainIntervalSeconds?: number; timeoutMs?: number } = {}): Promise<ChaosStack> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'start', '--port', String(port), '--drain-interval', String(options.drainIntervalSeconds ?? 1)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = new LogTap((entry) => NOTABLE.has(String(entry.msg)));
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-50_000)));
  let running = true;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  const stop = async (graceMs = 20_000) => {
    if (running) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exit;
      clearTimeout(killer);
      return result;
    }
    return exit;
  };
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  for (;;) {
    if (!running) throw new Error(`the stack exited while starting:\n${logs.tail}\n${stderr}`);
    try {
      const response = await fetch(`${base}/_local/ping`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(1_000);
      throw new Error(`the stack did not answer within ${options.timeoutMs ?? 90_000} ms:\n${logs.tail}\n${stderr}`);
    }
    await sleep(100);
  }
  return { child, port, base, hybridUrl: `${base}${HYBRID_PATH}`, logs, stderr: () => stderr, alive: () => running, exit, stop };
}

export type { CliResult } from './cli.ts';

/** `webhook-router <args>` as a child process, to completion; the chaos runs allow two minutes. */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliResult> {
  return runCliProcess(args, env, timeoutMs);
}

/** `webhook-router <args>` started in the background (the SIGKILL test kills it). */
export function spawnCli(args: string[], env: Record<string, string>): {
  child: ChildProcess;
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => output, exit };
}

export interface DrainWorker {
  child: ChildProcess;
  /** Summed `drain --json` totals of every run so far. */
  totals: Record<string, number>;
  runs: number;
  errors: string[];
  /** SIGTERM: the worker finishes its current `drain` run and exits. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * A drain worker process: runs the real `webhook-router drain --json` verb (src/cli/main.ts) over
 * and over, pausing briefly when the queue is empty, until SIGTERM. One process, so the CLI's
 * start-up cost is paid once, not on every run.
 */
export function startDrainWorker(env: Record<string, string>, name: string): DrainWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], { cwd: ROOT, env: { ...env, CHAOS_WORKER_NAME: name }, stdio: ['ignore', 'pipe', 'pipe'] });
  const worker: DrainWorker = {
    child,
    totals: {},
    runs: 0,
    errors: [],
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const result = await exit;
      clearTimeout(killer);
      return result;
    },
  };
  let partial = '';
  child.stdout?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        const summary = JSON.parse(line) as Record<string, unknown>;
        worker.runs += 1;
        for (const [key, value] of Object.entries(summary)) {
          if (typeof value === 'number' && key !== 'remaining') worker.totals[key] = (worker.totals[key] ?? 0) + value;
        }
      } catch {
        // not a summary
      }
    }
  });
  child.stderr?.on('data', (d: Buffer) => {
    if (worker.errors.length < 100) worker.errors.push(d.toString());
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return worker;
}

/** Polls `check` until it returns something other than undefined; throws after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not met within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}
