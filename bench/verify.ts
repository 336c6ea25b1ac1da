/**
 * Signature verification: verifySignature (what the receivers run: @octokit/webhooks-methods
 * over the UTF-8 text) vs a raw node:crypto HMAC-SHA256 of the same bytes plus a constant-time
 * compare, at several body sizes. No database.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { verifySignature } from '../src/shared/github/verify.ts';
import { BENCH_SECRET, pullRequestOpened } from './lib/deliveries.ts';
import { signatureOf } from '../tests/helpers/sign.ts';
import { ratio, summarize, type Summary } from './lib/stats.ts';

export interface VerifyOptions {
  /** Body sizes in bytes. */
  sizes: number[];
  /** Timed iterations per size (after warm-up); at least `minIterations`, about `budgetMs` of work. */
  budgetMs: number;
  minIterations: number;
  log?: (line: string) => void;
}

export const FULL_VERIFY: VerifyOptions = { sizes: [1024, 1024 * 1024, 6 * 1024 * 1024], budgetMs: 3_000, minIterations: 30 };

export interface VerifySizeResult {
  bytes: number;
  iterations: number;
  verifySignature: Summary;
  rawHmac: Summary;
  /** The receiver decodes the raw bytes to UTF-8 text before verifying; timed separately. */
  utf8Decode: Summary;
  /** verifySignature p50 ÷ raw HMAC p50. */
  ratio: number;
  /** MB/s of verifySignature at p50. */
  throughputMBps: number;
}

export interface VerifyResult {
  name: 'verify';
  options: Omit<VerifyOptions, 'log'>;
  startedAt: string;
  finishedAt: string;
  sizes: VerifySizeResult[];
}

/** A JSON body of exactly `bytes` bytes: a real payload, its PR body padded with text (some non-ASCII). */
export function bodyOfSize(bytes: number): string {
  const payload = pullRequestOpened({ fullName: 'bench/verify', githubId: 1 });
  const pr = payload.pull_request as Record<string, unknown>;
  pr.body = '';
  const base = Buffer.byteLength(JSON.stringify(payload));
  if (base > bytes) {
    // Smaller than a real payload: a minimal valid JSON document of the size.
    const filler = 'x'.repeat(Math.max(0, bytes - '{"zen":""}'.length));
    return `{"zen":"${filler}"}`;
  }
  // JSON.stringify leaves these characters as they are, so byte lengths simply add up.
  const head = 'Résumé of the change — ';
  const room = bytes - base - Buffer.byteLength(head);
  const unit = 'Fixes the merge queue when a check is retried. ';
  pr.body = head + unit.repeat(Math.floor(room / unit.length)) + 'x'.repeat(room % unit.length);
  return JSON.stringify(payload);
}

function timeLoop(iterations: number, fn: () => unknown): number[] {
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  return times;
}

async function timeLoopAsync(iterations: number, fn: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return times;
}

export async function run(partial: Partial<VerifyOptions> = {}): Promise<VerifyResult> {
  const options: VerifyOptions = { ...FULL_VERIFY, ...partial };
  const log = options.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const sizes: VerifySizeResult[] = [];
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  for (const bytes of options.sizes) {
    const text = bodyOfSize(bytes);
    const raw = Buffer.from(text, 'utf8');
    if (raw.byteLength !== bytes) throw new Error(`body is ${raw.byteLength} bytes, wanted ${bytes}`);
    const header = signatureOf(raw, BENCH_SECRET);
    const expected = Buffer.from(header.slice('sha256='.length), 'hex');
    const rawHmac = () => {
      const digest = createHmac('sha256', BENCH_SECRET).update(raw).digest();
      if (!timingSafeEqual(digest, expected)) throw new Error('raw HMAC mismatch');
    };
    const verify = async () => {
      if (!(await verifySignature(text, header, [BENCH_SECRET]))) throw new Error('verifySignature rejected a valid signature');
    };
    // Calibrate: about budgetMs for the two together, and warm both up.
    const probe = await timeLoopAsync(3, verify);
    const per = Math.max(0.001, (probe[2] ?? 1) * 2);
    const iterations = Math.max(options.minIterations, Math.min(20_000, Math.floor(options.budgetMs / per)));
    timeLoop(Math.min(iterations, 50), rawHmac);
    // Interleave in blocks so drift on a noisy machine hits both.
    const v: number[] = [];
    const h: number[] = [];
    const d: number[] = [];
    const block = Math.max(1, Math.floor(iterations / 10));
    for (let done = 0; done < iterations; done += block) {
      const n = Math.min(block, iterations - done);
      v.push(...(await timeLoopAsync(n, verify)));
      h.push(...timeLoop(n, rawHmac));
      d.push(...timeLoop(n, () => decoder.decode(raw)));
    }
    const result: VerifySizeResult = {
      bytes,
      iterations,
      verifySignature: summarize(v),
      rawHmac: summarize(h),
      utf8Decode: summarize(d),
      ratio: 0,
      throughputMBps: 0,
    };
    result.ratio = ratio(result.verifySignature.p50, result.rawHmac.p50);
    result.throughputMBps = Math.round(bytes / 1e6 / (result.verifySignature.p50 / 1000));
    sizes.push(result);
    log(`verify ${bytes} B: verifySignature p50 ${result.verifySignature.p50} ms, raw HMAC p50 ${result.rawHmac.p50} ms (×${result.ratio})`);
  }
  return {
    name: 'verify',
    options: { sizes: options.sizes, budgetMs: options.budgetMs, minIterations: options.minIterations },
    startedAt,
    finishedAt: new Date().toISOString(),
    sizes,
  };
}
