import { createServer, type Server } from 'node:http';
import { answer } from '../../shared/receive/respond.ts';
import { sendWebResponse, toWebRequest } from '../http-bridge.ts';
import { logLine } from './log.ts';

/** Methods a Fetch Request cannot carry: answered before one is built. */
const FETCH_FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

export interface StackServer {
  server: Server;
  /** Stops taking requests and waits for those under way (cut after `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/** node:http in front of a Web handler, on 127.0.0.1 only: the local stack is never exposed. */
export async function listenStack(port: number, handler: (request: Request) => Promise<Response>): Promise<StackServer> {
  const base = `http://127.0.0.1:${port}`;
  const server = createServer(async (req, res) => {
    try {
      if (FETCH_FORBIDDEN_METHODS.has((req.method ?? '').toUpperCase())) {
        const delivery = req.headers['x-github-delivery'];
        const body = { error: `Method ${req.method} is not allowed.` };
        await sendWebResponse(res, answer(405, typeof delivery === 'string' ? delivery : null, body, { allow: 'POST' }));
        return;
      }
      await sendWebResponse(res, await handler(await toWebRequest(req, base)));
    } catch (error) {
      logLine({ msg: 'unhandled error', error: String(error) });
      res.statusCode = 500;
      res.end(JSON.stringify({ ok: false, error: 'internal error' }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`cannot listen on port ${port}: ${error.message}`)));
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    server,
    close: (graceMs = 5_000) =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
