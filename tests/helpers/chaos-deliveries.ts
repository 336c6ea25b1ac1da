// Real, signed GitHub deliveries for the reliability suite (@octokit/webhooks-examples payloads with
// the repository rewritten), what the router should answer to each, and a sender with bounded rate
// and concurrency.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { parseDelivery } from '../../src/shared/github/delivery.ts';
import { SUPPORTED_EVENTS } from '../../src/shared/github/events.ts';
import { percentile, sleep } from './chaos-env.ts';
import { CHAOS_SECRET } from './chaos-stack.ts';
import { signatureOf } from './sign.ts';

type Definition = { name: string; examples: Record<string, unknown>[] };
const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as Definition[];

export interface ChaosRepo {
  fullName: string;
  githubId: number;
  /** Active workspaces tracking it (0 for an untracked or unwatched repository). */
  workspaces: number;
  workspaceIds: string[];
}

export const UNSUPPORTED_EVENTS = ['star', 'watch', 'create', 'delete', 'fork', 'label', 'release', 'check_run', 'workflow_run', 'issue_comment'];

function withRepo(payload: Record<string, unknown>, repo: ChaosRepo | null): Record<string, unknown> {
  const copy = structuredClone(payload);
  const repository = copy.repository as Record<string, unknown> | undefined;
  if (repo && repository) {
    repository.full_name = repo.fullName;
    repository.name = repo.fullName.split('/')[1];
    repository.id = repo.githubId;
  }
  return copy;
}

/** Every example of `event` that the router accepts once its repository is rewritten. */
function usableExamples(event: string): Record<string, unknown>[] {
  const definition = definitions.find((d) => d.name === event);
  if (!definition) throw new Error(`@octokit/webhooks-examples has no "${event}"`);
  const probe: ChaosRepo = { fullName: 'probe/probe', githubId: 1, workspaces: 0, workspaceIds: [] };
  if (!(SUPPORTED_EVENTS as readonly string[]).includes(event)) return definition.examples.slice(0, 2);
  return definition.examples.filter((example) => {
    const headers = new Headers({ 'x-github-event': event, 'x-github-delivery': 'probe', 'content-type': 'application/json' });
    return parseDelivery(headers, JSON.stringify(withRepo(example, probe))).ok;
  });
}

const templates = new Map<string, Record<string, unknown>[]>();
export function templatesOf(event: string): Record<string, unknown>[] {
  let list = templates.get(event);
  if (!list) {
    list = usableExamples(event);
    if (list.length === 0) throw new Error(`no usable "${event}" example`);
    templates.set(event, list);
  }
  return list;
}

export interface DeliverySpec {
  guid: string;
  event: string;
  /** Index into the repository list, or -1 for a repository-less ping. */
  repo: number;
  template: number;
}

export interface BuiltDelivery {
  spec: DeliverySpec;
  action: string | null;
  body: string;
  headers: Record<string, string>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Makes the body this GUID's own, as GitHub's bodies are: a head commit and timestamps derived
 * from the GUID, so a redelivery (same GUID) repeats the body byte for byte and two deliveries
 * never share one (the receiver treats a known body as a duplicate whatever its GUID).
 */
function uniqueFor(payload: Obj, event: string, guid: string): Obj {
  const digest = createHash('sha256').update(guid).digest();
  const sha = digest.subarray(0, 20).toString('hex');
  const at = new Date(Date.UTC(2026, 0, 1) + (digest.readUInt32BE(20) % 31_536_000) * 1000 + digest.readUInt16BE(24) % 1000);
  if (isObj(payload.repository)) payload.repository.updated_at = at.toISOString();
  if (isObj(payload.hook)) payload.hook.updated_at = at.toISOString();
  if (event === 'push') {
    payload.after = sha;
    if (isObj(payload.repository)) payload.repository.pushed_at = at.getTime() / 1000;
    if (isObj(payload.head_commit)) payload.head_commit.id = sha;
  }
  if (event === 'pull_request' && isObj(payload.pull_request) && isObj(payload.pull_request.head)) payload.pull_request.head.sha = sha;
  if (event === 'issues' && isObj(payload.issue)) payload.issue.updated_at = at.toISOString();
  return payload;
}

/** The delivery as GitHub sends it: JSON body, signed, with the usual headers. */
export function buildDelivery(spec: DeliverySpec, repos: readonly ChaosRepo[]): BuiltDelivery {
  const list = templatesOf(spec.event);
  const template = list[spec.template % list.length] as Record<string, unknown>;
  const repo = spec.repo >= 0 ? (repos[spec.repo] ?? null) : null;
  let payload = withRepo(template, repo);
  if (spec.event === 'ping' && !repo) {
    const { repository: _r, ...rest } = payload;
    payload = rest;
  }
  payload = uniqueFor(payload, spec.event, spec.guid);
  const body = JSON.stringify(payload);
  return {
    spec,
    action: typeof payload.action === 'string' ? payload.action : null,
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/chaos',
      'x-github-event': spec.event,
      'x-github-delivery': spec.guid,
      'x-github-hook-id': '1',
      'x-hub-signature-256': signatureOf(body, CHAOS_SECRET),
    },
  };
}

export type ExpectedRoute = 'inline' | 'queued' | 'no_workspace' | 'ignored';

/** What the router must answer with the default policy (threshold 10, quick: ping, repository). */
export function expectedAnswer(event: string, workspaces: number, threshold = 10): { status: number; route: ExpectedRoute } {
  if (!(SUPPORTED_EVENTS as readonly string[]).includes(event)) return { status: 202, route: 'ignored' };
  if (event === 'ping') return { status: 200, route: 'inline' };
  if (workspaces === 0) return { status: 200, route: 'no_workspace' };
  if (workspaces > threshold) return { status: 202, route: 'queued' };
  return event === 'repository' ? { status: 200, route: 'inline' } : { status: 202, route: 'queued' };
}

export interface Answer {
  status: number;
  /** The parsed JSON answer; null when it was not JSON. */
  body: Record<string, unknown> | null;
  ms: number;
  /** Set when no answer came (network error, timeout). */
  error?: string;
}

/** POSTs a built delivery; never throws (a missing answer is reported as status 0). */
export async function post(url: string, delivery: { body: string; headers: Record<string, string> }, timeoutMs = 15_000): Promise<Answer> {
  const started = performance.now();
  try {
    const response = await fetch(url, { method: 'POST', headers: delivery.headers, body: delivery.body, signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    let body: Record<string, unknown> | null = null;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = null;
    }
    return { status: response.status, body, ms: performance.now() - started };
  } catch (error) {
    return { status: 0, body: null, ms: performance.now() - started, error: String((error as Error).cause ?? error) };
  }
}

export interface LoadReport {
  sent: number;
  elapsedMs: number;
  achievedPerSecond: number;
  maxInFlight: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
}

/**
 * Runs `task(i)` for i in 0..count-1 with at most `concurrency` in flight and at most
 * `ratePerSecond` started per second (each start waits for its slot on a fixed schedule).
 */
export async function runBounded(
  count: number,
  options: { concurrency: number; ratePerSecond: number },
  task: (index: number) => Promise<number /* latency ms */>,
): Promise<LoadReport> {
  const started = performance.now();
  const latencies: number[] = [];
  let next = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const interval = 1000 / options.ratePerSecond;
  async function worker(): Promise<void> {
    for (;;) {
      const index = next++;
      if (index >= count) return;
      const slot = started + index * interval;
      const wait = slot - performance.now();
      if (wait > 0) await sleep(wait);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        latencies.push(await task(index));
      } finally {
        inFlight -= 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  const elapsedMs = performance.now() - started;
  return {
    sent: count,
    elapsedMs: Math.round(elapsedMs),
    achievedPerSecond: Math.round((count / (elapsedMs / 1000)) * 10) / 10,
    maxInFlight,
    latencyMs: {
      p50: Math.round(percentile(latencies, 50)),
      p95: Math.round(percentile(latencies, 95)),
      p99: Math.round(percentile(latencies, 99)),
      max: Math.round(Math.max(0, ...latencies)),
    },
  };
}
