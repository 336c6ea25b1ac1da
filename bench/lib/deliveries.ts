import { randomUUID } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { examplePayload } from '../../src/cli/examples.ts';
import { freshPayload } from '../../src/cli/fresh-payload.ts';
import { signatureOf } from '../../tests/helpers/sign.ts';

export const HYBRID_PATH = '/.netlify/functions/api-workspaces-webhook-hybrid';
export const SYNC_PATH = '/.netlify/functions/api-workspaces-webhook';
export const BENCH_SECRET = 'bench-webhook-secret';

export interface BenchRepository {
  fullName: string;
  githubId: number;
}

/**
 * A real `pull_request` `opened` payload (@octokit/webhooks-examples) for `repo`, unique as
 * GitHub's bodies are (fresh head sha and timestamp): the receiver drops a body it has seen.
 */
export function pullRequestOpened(repo: BenchRepository): Record<string, unknown> {
  return freshExample(repo, 'pull_request', 'opened');
}

function freshExample(repo: BenchRepository, event: string, action?: string): Record<string, unknown> {
  const example = examplePayload(event, action);
  if (!example) throw new Error(`no ${event} ${action ?? ''} example`);
  const payload = freshPayload(event, example);
  const repository = payload.repository as Record<string, unknown>;
  repository.full_name = repo.fullName;
  repository.name = repo.fullName.split('/')[1];
  repository.id = repo.githubId;
  return payload;
}

/**
 * A real `push` payload for `repo` and `ref` (a branch), unique as GitHub's are (fresh `after`,
 * head commit and pushed_at).
 */
export function pushTo(repo: BenchRepository, ref: string): Record<string, unknown> {
  return { ...freshExample(repo, 'push'), ref };
}

/** One delivery ready to send: body, signature and GitHub's headers with a fresh GUID. */
export interface PreparedDelivery {
  id: string;
  event: string;
  body: string;
  headers: Record<string, string>;
}

export function prepareDelivery(event: string, payload: Record<string, unknown>, secret = BENCH_SECRET): PreparedDelivery {
  const body = JSON.stringify(payload);
  const id = randomUUID();
  return { id, event, body, headers: deliveryHeaders(event, body, signatureOf(body, secret), id) };
}

/** GitHub's headers for one delivery; the GUID is fresh unless given. */
export function deliveryHeaders(event: string, body: string, signed: string, id = randomUUID()): Record<string, string> {
  return {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'x-github-event': event,
    'x-github-delivery': id,
    'x-hub-signature-256': signed,
    'user-agent': 'GitHub-Hookshot/bench',
  };
}

export interface Posted {
  status: number;
  ms: number;
  body: string;
  error?: string;
}

/** One POST over node:http; never rejects (network errors and timeouts are status 0). */
export function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  agent: Agent,
  timeoutMs = 10_000,
): Promise<Posted> {
  return new Promise((resolve) => {
    const started = performance.now();
    let settled = false;
    const done = (result: Omit<Posted, 'ms'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...result, ms: performance.now() - started });
    };
    const req = httpRequest(url, { method: 'POST', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => done({ status: 0, body: '', error: error.message }));
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy(new Error(`no answer within ${timeoutMs} ms`));
    });
    req.on('error', (error) => done({ status: 0, body: '', error: error.message }));
    req.end(body);
  });
}

export function keepAliveAgent(maxSockets = 16): Agent {
  return new Agent({ keepAlive: true, maxSockets });
}
