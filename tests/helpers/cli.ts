// The one way tests run the webhook-router CLI: as a child process (bin/webhook-router.mjs, the
// installed bin) with a controlled environment — one-shot verbs, background verbs and the local
// stack — or in-process through main() with its output captured.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import { main, type MainOptions } from '../../src/cli/main.ts';
import { HYBRID_PATH } from '../../src/cli/stack/paths.ts';
import type { StackFile } from '../../src/cli/stack/stack-file.ts';
import type { EnvRecord } from '../../src/shared/config.ts';
import { freePort } from './net.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin/webhook-router.mjs');

export { DRAIN_PATH, HYBRID_PATH, SYNC_PATH } from '../../src/cli/stack/paths.ts';

export type CliResult = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number };

/**
 * Only what a child needs from the parent (PATH, HOME) plus `extra`: never DATABASE_URL, INNGEST_*
 * or GITHUB_* from the parent's environment.
 */
export function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: '1' };
  if (process.env.PATH) env.PATH = process.env.PATH;
  if (process.env.HOME) env.HOME = process.env.HOME;
  return { ...env, ...extra };
}

/** `webhook-router <args>` as a child process, to completion (killed after `timeoutMs`). */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

export function readStack(dataDir: string): StackFile | null {
  const file = join(dataDir, 'stack.json');
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackFile;
  } catch {
    return null; // being written
  }
}

/** The log lines the reliability suite looks out for, kept even when the output is not. */
const NOTABLE = new Set(['unhandled error', 'database unavailable', 'drain kick failed', 'timed drain failed', 'inline work failed', 'drain: database unavailable']);

/** Reads a stack's stdout as JSON log lines; keeps them all, or (keep = false) only counts and a tail. */
export class StackLog {
  /** Every JSON log line, in order (empty when not kept). */
  entries: Record<string, unknown>[] = [];
  counts: Record<string, number> = {};
  jobOutcomes: Record<string, number> = {};
  /** completed 'job' lines per job id (the stack's drains log one per outcome). */
  completedJobLines = new Map<string, number>();
  notable: Record<string, unknown>[] = [];
  /** All of stdout when kept, else its last 20,000 characters. */
  text = '';
  private partial = '';

  constructor(private readonly keep: boolean) {}

  push(chunk: string): void {
    this.text = this.keep ? this.text + chunk : (this.text + chunk).slice(-20_000);
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (this.keep) this.entries.push(entry);
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
      if (NOTABLE.has(msg) && this.notable.length < 2_000) this.notable.push(entry);
    }
  }
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

export interface RunningStack {
  child: ChildProcess;
  port: number;
  base: string;
  hybridUrl: string;
  /** stack.json as the stack wrote it once ready. */
  stack: StackFile;
  log: StackLog;
  /** What the stack wrote to stdout (all of it, or the tail when the output is not kept). */
  stdout(): string;
  stderr(): string;
  /** True while the process runs. */
  alive(): boolean;
  exit: Promise<Exit>;
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<Exit>;
}

export interface StackOptions {
  port?: number;
  drainIntervalSeconds?: number;
  /** More `start` flags. */
  args?: string[];
  timeoutMs?: number;
  /** Keep all of stdout and every log line (default); false keeps counts and a tail (long runs). */
  keepOutput?: boolean;
  /** Start it as the README does, `PORT=N npm start` (npm is then the child; stop signals npm). */
  npmStart?: boolean;
}

/**
 * `webhook-router start --port N` as a child process with `env` (which must name its own
 * WEBHOOK_ROUTER_DATA_DIR), resolved once its stack.json says ready and the port answers.
 */
export async function startStack(env: Record<string, string>, options: StackOptions = {}): Promise<RunningStack> {
  const dataDir = env.WEBHOOK_ROUTER_DATA_DIR;
  if (!dataDir) throw new Error('startStack: env must set WEBHOOK_ROUTER_DATA_DIR (a data dir of the test\'s own)');
  const port = options.port ?? (await freePort());
  const interval = options.drainIntervalSeconds === undefined ? [] : ['--drain-interval', String(options.drainIntervalSeconds)];
  const flags = [...interval, ...(options.args ?? [])];
  const child = options.npmStart
    ? spawn('npm', ['start', ...(flags.length ? ['--', ...flags] : [])], { cwd: ROOT, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [BIN, 'start', '--port', String(port), ...flags], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = new StackLog(options.keepOutput ?? true);
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-50_000)));
  let running = true;
  const exit = new Promise<Exit>((resolve) =>
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

  const timeoutMs = options.timeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  let stack: StackFile | null = null;
  for (;;) {
    if (!running) throw new Error(`the stack exited while starting:\n${log.text}\n${stderr}`);
    stack = readStack(dataDir);
    // Under npm the stack is npm's child, so its own pid is in stack.json.
    if (stack?.ready && stack.url === base && (options.npmStart || stack.pid === child.pid)) {
      try {
        const response = await fetch(`${base}/_local/ping`, { signal: AbortSignal.timeout(1_000) });
        await response.body?.cancel();
        break;
      } catch {
        // Not answering yet.
      }
    }
    if (Date.now() > deadline) {
      await stop(1_000);
      throw new Error(`the stack was not ready within ${timeoutMs} ms:\n${log.text}\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    child,
    port,
    base,
    hybridUrl: `${base}${HYBRID_PATH}`,
    stack,
    log,
    stdout: () => log.text,
    stderr: () => stderr,
    alive: () => running,
    exit,
    stop,
  };
}

/** `webhook-router <args>` started in the background, with its output (stdout and stderr) collected. */
export function spawnCli(args: string[], env: Record<string, string>): { child: ChildProcess; output(): string; exit: Promise<Exit> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => output, exit };
}

/** Polls `check` every `everyMs` until it returns a value other than undefined; throws after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000, what = 'condition', everyMs = 200): Promise<T> {
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
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** main(argv, env, options) in-process, with everything it writes to stdout and stderr captured. */
export async function runMain(argv: string[], env: EnvRecord, options: MainOptions = {}): Promise<CliResult & { code: number }> {
  let stdout = '';
  let stderr = '';
  const capture = (sink: 'out' | 'err') => (chunk: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    if (sink === 'out') stdout += text;
    else stderr += text;
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture('out') as typeof process.stdout.write);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture('err') as typeof process.stderr.write);
  try {
    const started = Date.now();
    const code = await main(argv, env, options);
    return { code, signal: null, stdout, stderr, ms: Date.now() - started };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
