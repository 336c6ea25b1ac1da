// A local stand-in for the GitHub REST API's hook delivery endpoints, recording every request.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { listenLocal } from './net.ts';

export interface HookDelivery {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  duration: number;
  status: string;
  status_code: number;
  event: string;
  action: string | null;
  installation_id: number | null;
  repository_id: number | null;
}

export type FakeRequest = { method: string; path: string; query: Record<string, string>; headers: IncomingHttpHeaders };

export interface FakeGitHub {
  url: string;
  requests: FakeRequest[];
  /** `GET <hook>/deliveries` pages, keyed by hook path (e.g. /repos/acme/widgets/hooks/42); page n>0 is asked for with cursor `page-n`. */
  pages: Map<string, HookDelivery[][]>;
  close(): Promise<void>;
}

export function hookDelivery(
  input: Pick<HookDelivery, 'id' | 'guid' | 'status_code'> & Partial<HookDelivery> & { hoursAgo: number },
): HookDelivery {
  const { hoursAgo, ...rest } = input;
  return {
    delivered_at: new Date(Date.now() - hoursAgo * 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    redelivery: false,
    duration: 0.2,
    status: input.status_code >= 200 && input.status_code < 300 ? 'OK' : 'Service Unavailable',
    event: 'push',
    action: null,
    installation_id: null,
    repository_id: 1296269,
    ...rest,
  };
}

export async function startFakeGitHub(): Promise<FakeGitHub> {
  const requests: FakeRequest[] = [];
  const pages = new Map<string, HookDelivery[][]>();
  let url = '';
  const server: Server = createServer((req, res) => {
    const parsed = new URL(req.url ?? '/', 'http://localhost');
    requests.push({
      method: req.method ?? '',
      path: parsed.pathname,
      query: Object.fromEntries(parsed.searchParams),
      headers: req.headers,
    });
    req.resume();
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    };
    const list = /^(.*)\/deliveries$/.exec(parsed.pathname);
    if (req.method === 'GET' && list && pages.has(list[1] as string)) {
      const hookPages = pages.get(list[1] as string) as HookDelivery[][];
      const cursor = parsed.searchParams.get('cursor');
      const index = cursor ? Number(/^page-(\d+)$/.exec(cursor)?.[1] ?? NaN) : 0;
      const page = hookPages[index];
      if (!page) return json(422, { message: `bad cursor ${cursor}` });
      // GitHub's Link header: the next page keeps per_page and adds an opaque cursor.
      const headers: Record<string, string> =
        index + 1 < hookPages.length
          ? { link: `<${url}${parsed.pathname}?per_page=100&cursor=page-${index + 1}>; rel="next"` }
          : {};
      return json(200, page, headers);
    }
    if (req.method === 'POST' && /\/deliveries\/\d+\/attempts$/.test(parsed.pathname)) return json(202, {});
    return json(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  });
  url = await listenLocal(server);
  return {
    url,
    requests,
    pages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
