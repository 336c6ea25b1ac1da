// Running the webhook-router CLI from tests: as a child process (bin/webhook-router.mjs) with a
// controlled environment, or in-process through main() with its output captured.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import { main, type MainOptions } from '../../src/cli/main.ts';
import type { StackFile } from '../../src/cli/context.ts';
import type { EnvRecord } from '../../src/shared/config.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin/webhook-router.mjs');

export const HYBRID_PATH = '/.netlify/functions/api-workspaces-webhook-hybrid';
export const SYNC_PATH = '/.netlify/functions/api-workspaces-webhook';
export const DRAIN_PATH = '/functions/v1/process-webhook';

import { freePort } from './net.ts';

export { freePort };

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

export interface RunningStack {
  child: ChildProcess;
  port: number;
  base: string;
  stack: StackFile;
  /** Everything the stack wrote to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** The stdout lines that are JSON log entries. */
  logs(): Record<string, unknown>[];
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** For afterAll: stops the stack if it still runs. */
  kill(): Promise<void>;
}

/** `webhook-router start --port <port> [extra]`, resolved once stack.json says ready and the port answers. */
export async function startStack(
  env: Record<string, string>,
  dataDir: string,
  options: { port?: number; args?: string[]; timeoutMs?: number } = {},
): Promise<RunningStack> {
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, [BIN, 'start', '--port', String(port), ...(options.args ?? [])], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let done = false;
  void exited.then(() => (done = true));
  const base = `http://127.0.0.1:${port}`;

  const stop = async (graceMs = 15_000) => {
    if (!done) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(killer);
      return result;
    }
    return exited;
  };

  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let stack: StackFile | null = null;
  for (;;) {
    if (done) throw new Error(`the stack exited while starting:\n${stdout}\n${stderr}`);
    stack = readStack(dataDir);
    if (stack?.ready && stack.pid === child.pid) {
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
      throw new Error(`the stack was not ready within ${options.timeoutMs ?? 60_000} ms:\n${stdout}\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    child,
    port,
    base,
    stack,
    stdout: () => stdout,
    stderr: () => stderr,
    logs: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop,
    async kill() {
      await stop(5_000);
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
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
