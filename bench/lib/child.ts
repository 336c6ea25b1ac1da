import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/node/migrations.ts';

export interface Child {
  port: number;
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Environment variables the child inherits; the router's configuration is passed explicitly. */
const PASSED = ['PATH', 'HOME', 'TMPDIR', 'TEMP', 'TMP', 'LANG', 'TZ'];

/** The pinned Node 22 (the "node" devDependency): what Netlify runs the functions on (netlify.toml). */
export const NODE22 = join(PROJECT_ROOT, 'node_modules/node/bin/node');

/** Node 22 when installed, else this process's Node. */
export function productionNode(): string {
  return existsSync(NODE22) ? NODE22 : process.execPath;
}

/**
 * Starts `file` (a TypeScript entry under bench/) as its own Node process through tsx, so its CPU
 * and event loop are separate from the caller's. The child reports `{ ready: true, port }` over IPC.
 */
export async function startChild(
  file: string,
  env: Record<string, string>,
  options: { timeoutMs?: number; execPath?: string } = {},
): Promise<Child> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const base: Record<string, string> = {};
  for (const name of PASSED) if (process.env[name] !== undefined) base[name] = process.env[name] as string;
  const child = fork(file, [], {
    cwd: PROJECT_ROOT,
    execPath: options.execPath ?? process.execPath,
    execArgv: ['--import', 'tsx'],
    env: { ...base, ...env },
    // stdout carries the router's JSON log lines: discarded, as a log drain would take them.
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    child.once('message', (message: { ready?: boolean; port?: number }) => {
      clearTimeout(timer);
      if (message.ready && message.port) resolve(message.port);
      else reject(new Error(`${file} sent ${JSON.stringify(message)}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${code} before it was ready: ${stderr}`));
    });
  });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** For a child entry: listen, then tell the parent the port; exit on SIGTERM or when the parent goes. */
export function announceReady(port: number, close: () => Promise<void> | void): void {
  process.send?.({ ready: true, port });
  const stop = async () => {
    await close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('disconnect', () => void stop());
}
