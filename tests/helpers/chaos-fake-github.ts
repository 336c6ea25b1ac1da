// A local GitHub REST API for one repository hook, for `webhook-router redeliver`: it lists the
// hook's delivery attempts (newest first, paginated with a Link cursor like GitHub) and, on
// `POST …/deliveries/<id>/attempts`, re-sends the original signed delivery (same GUID) to the stack.
import { createServer, type Server } from 'node:http';
import { listenLocal } from './net.ts';

export interface Attempt {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  duration: number;
  status: string;
  status_code: number;
  event: string;
  action: string | null;
  installation_id: null;
  repository_id: number | null;
}

export interface ChaosFakeGitHub {
  url: string;
  /** Adds one attempt as GitHub would list it (the answer the hook gave, 0 for a timeout). */
  record(input: { guid: string; event: string; action: string | null; statusCode: number; redelivery?: boolean; repositoryId?: number | null }): Attempt;
  attempts: Attempt[];
  /** Redelivery requests received, by GUID. */
  redeliveryRequests: Map<string, number>;
  /** What the stack answered to each redelivery. */
  redeliveryAnswers: { guid: string; status: number }[];
  requests: { method: string; path: string; authorization: string | undefined }[];
  close(): Promise<void>;
}

export async function startChaosFakeGitHub(options: {
  /** e.g. /repos/acme/x/hooks/1 */
  hookPath: string;
  /** Re-sends the original delivery of `guid`; returns the HTTP status the hook answered. */
  resend: (guid: string) => Promise<number>;
}): Promise<ChaosFakeGitHub> {
  const attempts: Attempt[] = [];
  const redeliveryRequests = new Map<string, number>();
  const redeliveryAnswers: { guid: string; status: number }[] = [];
  const requests: ChaosFakeGitHub['requests'] = [];
  let nextId = 1_000;
  let url = '';

  const record: ChaosFakeGitHub['record'] = (input) => {
    nextId += 1;
    const ok = input.statusCode >= 200 && input.statusCode < 300;
    const attempt: Attempt = {
      id: nextId,
      guid: input.guid,
      delivered_at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      redelivery: input.redelivery ?? false,
      duration: 0.1,
      status: ok ? 'OK' : input.statusCode === 0 ? 'timed out' : `Invalid HTTP Response: ${input.statusCode}`,
      status_code: input.statusCode,
      event: input.event,
      action: input.action,
      installation_id: null,
      repository_id: input.repositoryId ?? null,
    };
    attempts.push(attempt);
    return attempt;
  };

  const server: Server = createServer((req, res) => {
    const parsed = new URL(req.url ?? '/', 'http://localhost');
    requests.push({ method: req.method ?? '', path: parsed.pathname, authorization: req.headers.authorization });
    req.resume();
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && parsed.pathname === `${options.hookPath}/deliveries`) {
      const perPage = Math.min(100, Math.max(1, Number(parsed.searchParams.get('per_page') ?? 30)));
      const cursor = parsed.searchParams.get('cursor');
      const offset = cursor ? Number(/^o(\d+)$/.exec(cursor)?.[1] ?? NaN) : 0;
      if (!Number.isInteger(offset)) return json(422, { message: `bad cursor ${cursor}` });
      const newestFirst = [...attempts].reverse();
      const page = newestFirst.slice(offset, offset + perPage);
      const headers: Record<string, string> =
        offset + perPage < newestFirst.length
          ? { link: `<${url}${parsed.pathname}?per_page=${perPage}&cursor=o${offset + perPage}>; rel="next"` }
          : {};
      return json(200, page, headers);
    }
    const redeliver = new RegExp(`^${options.hookPath}/deliveries/(\\d+)/attempts$`).exec(parsed.pathname);
    if (req.method === 'POST' && redeliver) {
      const attempt = attempts.find((a) => a.id === Number(redeliver[1]));
      if (!attempt) return json(404, { message: 'Not Found' });
      redeliveryRequests.set(attempt.guid, (redeliveryRequests.get(attempt.guid) ?? 0) + 1);
      // GitHub answers 202 and delivers on its own; here the delivery is made before answering so
      // the test knows when every redelivery has landed.
      void options
        .resend(attempt.guid)
        .catch(() => 0)
        .then((status) => {
          redeliveryAnswers.push({ guid: attempt.guid, status });
          record({ guid: attempt.guid, event: attempt.event, action: attempt.action, statusCode: status, redelivery: true, repositoryId: attempt.repository_id });
          json(202, {});
        });
      return;
    }
    return json(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  });
  url = await listenLocal(server);
  return {
    url,
    record,
    attempts,
    redeliveryRequests,
    redeliveryAnswers,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
