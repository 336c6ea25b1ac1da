// The process-webhook Edge Function served by real Deno as a child process, until stopped.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/node/migrations.ts';

export const DENO = join(PROJECT_ROOT, 'node_modules/.bin/deno');

export interface ServedFunction {
  /** `http://127.0.0.1:<port>/` */
  base: string;
  /** How long it took to answer its first request. */
  startMs: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Runs `deno <args>` with exactly `env` (PROCESS_WEBHOOK_PORT is set from `port`) and waits until
 * the port answers any request: the first start may fetch packages, type-check and compile.
 */
export async function serveFunction(options: {
  args: string[];
  cwd: string;
  env: Record<string, string>;
  port: number;
  startTimeoutMs: number;
}): Promise<ServedFunction> {
  const base = `http://127.0.0.1:${options.port}/`;
  const child = spawn(DENO, options.args, {
    cwd: options.cwd,
    env: { ...options.env, PROCESS_WEBHOOK_PORT: String(options.port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('close', () => ((exited = true), resolve())));
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));

  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exit;
    clearTimeout(killer);
  };

  const started = Date.now();
  for (;;) {
    if (exited) throw new Error(`the Edge Function exited during start:\n${output}`);
    try {
      const response = await fetch(base, { method: 'GET', signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      break;
    } catch {
      if (Date.now() - started > options.startTimeoutMs) {
        await stop();
        throw new Error(`the Edge Function did not answer within ${options.startTimeoutMs} ms:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { base, startMs: Date.now() - started, output: () => output, stop };
}
