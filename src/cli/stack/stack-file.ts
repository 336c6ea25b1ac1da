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

/** Where a local stack can be: it listens on 127.0.0.1 only, and clients may name it localhost or ::1. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function isLoopbackUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname) && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

/**
 * The stack described by the data dir's stack.json, if its process is still alive. Throws when
 * the file names anything but a loopback URL: the CLI sends the admin token and the caller's
 * GITHUB_TOKEN there, so a tampered file must not redirect them to another host.
 */
export function readStackFile(env: EnvRecord): StackFile | null {
  const file = stackFilePath(env);
  if (!existsSync(file)) return null;
  let stack: StackFile;
  try {
    stack = JSON.parse(readFileSync(file, 'utf8')) as StackFile;
    process.kill(stack.pid, 0); // throws if that process is gone
  } catch {
    return null;
  }
  if (!isLoopbackUrl(String(stack.url))) {
    throw new Error(
      `${file} names ${String(stack.url)}, which is not a loopback address; the local stack only listens on 127.0.0.1, ::1 or localhost. Remove the file if no stack runs.`,
    );
  }
  return stack;
}

/** Written by the stack itself, readable only by its user: it holds the admin token. */
export function writeStackFile(env: EnvRecord, stack: StackFile): void {
  const file = stackFilePath(env);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(stack, null, 2), { mode: 0o600 });
}

/** Removes stack.json if it is this process's (a second stack may have claimed the dir since). */
export function removeStackFile(env: EnvRecord): void {
  const file = stackFilePath(env);
  try {
    if ((JSON.parse(readFileSync(file, 'utf8')) as StackFile).pid === process.pid) rmSync(file, { force: true });
  } catch {
    // Gone or unreadable: not ours to remove.
  }
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
