// A local stand-in for the parts of Supabase's Management API that `supabase functions deploy
// --use-api` calls: it keeps the multipart upload (metadata and files) and answers as the API does.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { listenLocal } from './net.ts';

export type ApiRequest = { method: string; path: string; query: Record<string, string>; headers: IncomingHttpHeaders };

/** What the CLI's `metadata` form field says about the function. */
export interface DeployMetadata {
  entrypoint_path: string;
  import_map_path?: string;
  name: string;
  verify_jwt: boolean;
  static_patterns?: string[];
}

export interface Upload {
  projectRef: string;
  slug: string | null;
  metadata: DeployMetadata;
  /** Uploaded files by the path the CLI gave them (relative to the project root). */
  files: Map<string, Uint8Array>;
}

export interface ManagementApi {
  url: string;
  requests: ApiRequest[];
  uploads: Upload[];
  /** Requests it had no answer for (answered 404). */
  unknown: ApiRequest[];
  close(): Promise<void>;
}

const DEPLOY_PATH = /^\/v1\/projects\/([a-z]{20})\/functions\/deploy$/;
const PROJECT_PATH = /^\/v1\/projects\/([a-z]{20})$/;

async function readUpload(contentType: string, body: Buffer, projectRef: string, slug: string | null): Promise<Upload> {
  // The Fetch API's multipart parser reads the form exactly as a server would.
  const form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
  const metadata = form.get('metadata');
  if (typeof metadata !== 'string') throw new Error('the upload has no metadata field');
  const files = new Map<string, Uint8Array>();
  for (const file of form.getAll('file')) {
    if (typeof file === 'string') throw new Error('a file field without a file name');
    files.set(file.name, new Uint8Array(await file.arrayBuffer()));
  }
  return { projectRef, slug, metadata: JSON.parse(metadata) as DeployMetadata, files };
}

export async function startManagementApi(): Promise<ManagementApi> {
  const requests: ApiRequest[] = [];
  const uploads: Upload[] = [];
  const unknown: ApiRequest[] = [];
  let version = 0;

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const request = { method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers };
    requests.push(request);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const deploy = DEPLOY_PATH.exec(url.pathname);
      const project = PROJECT_PATH.exec(url.pathname);
      try {
        if (req.method === 'POST' && deploy) {
          const slug = url.searchParams.get('slug');
          const upload = await readUpload(req.headers['content-type'] ?? '', Buffer.concat(chunks), deploy[1] as string, slug);
          uploads.push(upload);
          version += 1;
          const now = Date.now();
          // The API's DeployFunctionResponse (201).
          return json(201, {
            id: `00000000-0000-4000-8000-${String(version).padStart(12, '0')}`,
            slug: upload.metadata.name,
            name: upload.metadata.name,
            status: 'ACTIVE',
            version,
            created_at: now,
            updated_at: now,
            verify_jwt: upload.metadata.verify_jwt,
            entrypoint_path: upload.metadata.entrypoint_path,
            ...(upload.metadata.import_map_path ? { import_map: true, import_map_path: upload.metadata.import_map_path } : {}),
          });
        }
        if (req.method === 'GET' && project) {
          const ref = project[1] as string;
          return json(200, {
            id: ref,
            ref,
            organization_id: 'stand-in-org',
            organization_slug: 'stand-in-org',
            name: 'stand-in project',
            region: 'eu-central-1',
            created_at: '2026-01-01T00:00:00Z',
            status: 'ACTIVE_HEALTHY',
            database: { host: `db.${ref}.supabase.invalid`, version: '15.8.1', postgres_engine: '15', release_channel: 'ga' },
          });
        }
        unknown.push(request);
        return json(404, { message: `the stand-in does not answer ${req.method} ${url.pathname}` });
      } catch (error) {
        return json(400, { message: error instanceof Error ? error.message : String(error) });
      }
    });
  });

  return {
    url: await listenLocal(server),
    requests,
    uploads,
    unknown,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
