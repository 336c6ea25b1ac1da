/**
 * Load for the receiver benchmarks: an open loop (requests sent on a fixed schedule whether or not
 * earlier ones were answered, as GitHub sends) and one-at-a-time sends, over pre-built deliveries
 * so building and signing bodies costs the generator nothing while it runs.
 */
import type { Agent } from 'node:http';
import type { PreparedDelivery } from './deliveries.ts';
import { post } from './deliveries.ts';
import { sleep, summarize, type Summary } from './stats.ts';

export interface Answer {
  id: string;
  /** When the request was sent: ms since the epoch (performance.timeOrigin + performance.now()). */
  sentAt: number;
  ms: number;
  status: number;
  body: string;
  error?: string;
}

export interface OpenLoopRun {
  answers: Answer[];
  /** Requests per second the generator really sent. */
  achievedRate: number;
  /** Worst delay between a request's scheduled and actual send (the generator keeping up). */
  maxScheduleLagMs: number;
}

const epochMs = () => performance.timeOrigin + performance.now();

/** Sends `deliveries` at `rate` per second, then waits for every answer. */
export async function openLoop(url: string, deliveries: readonly PreparedDelivery[], rate: number, agent: Agent): Promise<OpenLoopRun> {
  const interval = 1000 / rate;
  const answers: Answer[] = [];
  const inflight: Promise<void>[] = [];
  let maxLag = 0;
  const started = performance.now();
  for (let i = 0; i < deliveries.length; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0.5) await sleep(wait);
    maxLag = Math.max(maxLag, performance.now() - due);
    const d = deliveries[i] as PreparedDelivery;
    const sentAt = epochMs();
    inflight.push(post(url, d.body, d.headers, agent).then((r) => void answers.push({ id: d.id, sentAt, ...r })));
  }
  const sendSeconds = (performance.now() - started) / 1000;
  await Promise.all(inflight);
  return {
    answers,
    achievedRate: Math.round((deliveries.length / Math.max(sendSeconds, interval / 1000)) * 10) / 10,
    maxScheduleLagMs: Math.round(maxLag * 1000) / 1000,
  };
}

/** One at a time, each after the previous answer. */
export async function oneAtATime(url: string, deliveries: readonly PreparedDelivery[], agent: Agent): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (const d of deliveries) {
    const sentAt = epochMs();
    answers.push({ id: d.id, sentAt, ...(await post(url, d.body, d.headers, agent)) });
  }
  return answers;
}

export interface AnswerSummary {
  latency: Summary;
  ok: number;
  errors: number;
  statuses: Record<string, number>;
  errorSamples: string[];
}

/** Latency of every answer; `ok` counts answers with one of the `expected` statuses. */
export function summarizeAnswers(answers: readonly Answer[], expected: readonly number[]): AnswerSummary {
  const statuses: Record<string, number> = {};
  const errorSamples = new Set<string>();
  let ok = 0;
  for (const a of answers) {
    statuses[String(a.status)] = (statuses[String(a.status)] ?? 0) + 1;
    if (expected.includes(a.status)) ok += 1;
    else if (errorSamples.size < 5) errorSamples.add(a.error ?? `HTTP ${a.status}: ${a.body.slice(0, 200)}`);
  }
  return { latency: summarize(answers.map((a) => a.ms)), ok, errors: answers.length - ok, statuses, errorSamples: [...errorSamples] };
}
