import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { EnvRecord } from '../../shared/config.ts';
import { dataDir } from '../local-db.ts';

/** What a running `webhook-router start` leaves in the data dir so other verbs can find it. */
export interface StackFile {
  pid: number;
  url: string;
  /** False while the stack is still opening its database. */
  ready: boolean;
  devSecret: string | null;
  adminToken: string;
  database: 'postgres' | 'pglite';
}

export function stackFilePath(env: EnvRecord): string {
  return join(dataDir(env), 'stack.json');
}

/** The stack described by the data dir's stack.json, if its process is still alive. */
export function readStackFile(env: EnvRecord): StackFile | null {
  const file = stackFilePath(env);
  if (!existsSync(file)) return null;
  try {
    const stack = JSON.parse(readFileSync(file, 'utf8')) as StackFile;
    process.kill(stack.pid, 0); // throws if that process is gone
    return stack;
  } catch {
    return null;
  }
}

/** Written by the stack itself, readable only by its user: it holds the admin token. */
export function writeStackFile(env: EnvRecord, stack: StackFile): void {
  const file = stackFilePath(env);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(stack, null, 2), { mode: 0o600 });
}

/** Removes stack.json if it is this process's (a second stack may have claimed the dir since). */
export function removeStackFile(env: EnvRecord): void {
  if (readStackFile(env)?.pid === process.pid) rmSync(stackFilePath(env), { force: true });
}

/** The running stack once it serves requests; null when none runs (or it stopped booting). */
export async function waitForStack(env: EnvRecord, timeoutMs = 60_000): Promise<StackFile | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stack = readStackFile(env);
    if (!stack || stack.ready) return stack;
    if (Date.now() > deadline) throw new Error(`the local stack (pid ${stack.pid}) did not become ready in time`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
