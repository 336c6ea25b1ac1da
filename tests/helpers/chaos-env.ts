// The reliability suite's knobs (CHAOS_SCALE) and its figures file (bench/results/reliability.json).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RESULTS_FILE = join(ROOT, 'bench/results/reliability.json');

/** CHAOS_SCALE: 1 (default) is the full suite; 0.1 runs a tenth of the deliveries and fuzz cases. */
export function chaosScale(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.CHAOS_SCALE?.trim();
  if (!raw) return 1;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > 10) {
    throw new Error(`CHAOS_SCALE must be a number in (0, 10], got "${raw}"`);
  }
  return value;
}

export const SCALE = chaosScale();

/** `n` at the current scale, never below `min`. */
export function scaled(n: number, min = 1): number {
  return Math.max(min, Math.round(n * SCALE));
}

/** The suite cannot run on PGlite: it starts processes that connect over TCP. */
export function requireDatabaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) {
    throw new Error(
      'npm run test:chaos needs DATABASE_URL (a real PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/postgres): ' +
        'the reliability suite starts the local stack and drain processes that connect over TCP, which PGlite cannot serve.',
    );
  }
  return url;
}

/** A seeded PRNG (mulberry32): the same seed gives the same deliveries, schedule and faults. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export function histogram(values: Iterable<string | number>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function postgresVersion(): string | null {
  try {
    const url = process.env.DATABASE_URL;
    if (!url) return null;
    return execFileSync('psql', [url, '-Atc', 'show server_version'], { encoding: 'utf8', timeout: 5_000 }).trim();
  } catch {
    return null;
  }
}

function machine(): Record<string, unknown> {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: postgresVersion(),
    platform: `${process.platform} ${process.arch}`,
  };
}

/**
 * Merges one test's figures into bench/results/reliability.json under the run's scale, so the full
 * run (scale 1) and the reduced CI run (e.g. 0.1) are kept side by side. Test files run one at a
 * time (the chaos config), so a read-modify-write is safe.
 */
export function recordFigures(section: string, figures: Record<string, unknown>): void {
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  let file: { description?: string; runs?: Record<string, Record<string, unknown>> } = {};
  if (existsSync(RESULTS_FILE)) {
    try {
      file = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as typeof file;
    } catch {
      file = {};
    }
  }
  const key = `scale=${SCALE}`;
  const runs = file.runs ?? {};
  const run = (runs[key] ?? {}) as { sections?: Record<string, unknown> } & Record<string, unknown>;
  run.scale = SCALE;
  run.updatedAt = new Date().toISOString();
  run.machine = machine();
  run.command = SCALE === 1 ? 'npm run test:chaos' : `CHAOS_SCALE=${SCALE} npm run test:chaos`;
  run.sections = { ...(run.sections ?? {}), [section]: { ...figures, recordedAt: new Date().toISOString() } };
  runs[key] = run;
  const out = {
    description:
      'Figures written by the reliability suite (tests/chaos, `npm run test:chaos`): one entry per CHAOS_SCALE, ' +
      'one section per chaos test. BENCHMARKS.md "## Reliability" quotes the scale=1 run.',
    runs,
  };
  const tmp = `${RESULTS_FILE}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(out, null, 2)}\n`);
  renameSync(tmp, RESULTS_FILE);
}
