// The reliability suite's setup: the environment every chaos process shares (real Postgres, the
// Inngest stand-in, fixed secrets), data dirs, and long-running drain workers (the real `drain` verb
// in a loop). Stacks and one-shot verbs start through tests/helpers/cli.ts like every other test's.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './chaos-env.ts';
import { cliEnv } from './cli.ts';

const WORKER = join(ROOT, 'tests/helpers/chaos-drain-worker.ts');

export const CHAOS_SECRET = 'chaos-webhook-secret';
export const CHAOS_EVENT_KEY = 'chaos-event-key';
export const CHAOS_DRAIN_SECRET = 'chaos-drain-secret';

/** The environment of every chaos process: real Postgres, the Inngest stand-in, the shared secrets. */
export function stackEnv(input: { databaseUrl: string; inngestUrl: string; dataDir: string; extra?: Record<string, string> }): Record<string, string> {
  return cliEnv({
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
