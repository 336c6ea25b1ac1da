import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { answer } from '../../shared/receive/respond.ts';
import { MalformedTargetError, sendWebResponse, toWebRequest } from '../http-bridge.ts';
import { logLine } from './log.ts';

/** Methods a Fetch Request cannot carry: answered before one is built. */
const FETCH_FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

/** How long a client still sending a body we did not read gets to read our answer. */
const LINGER_MS = 2_000;

export interface StackServer {
  server: Server;
  /** Stops taking requests and waits for those under way (cut after `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

function deliveryOf(req: IncomingMessage): string | null {
  const delivery = req.headers['x-github-delivery'];
  return typeof delivery === 'string' ? delivery : null;
}

/**
 * An answer given before the body was all read (413, 401, 400): what the client still sends is
 * discarded, not kept, for LINGER_MS so it can read the answer (closing at once would reset the
 * connection under a client that is still writing), then the connection is cut.
 */
async function answerEarly(req: IncomingMessage, res: ServerResponse, response: Response): Promise<void> {
  res.once('finish', () => {
    if (req.complete) return;
    const cut = setTimeout(() => req.socket.destroy(), LINGER_MS);
    cut.unref();
    req.once('end', () => clearTimeout(cut));
    req.resume();
  });
  await sendWebResponse(res, response);
}

/**
 * node:http in front of a Web handler, on 127.0.0.1 only: the local stack is never exposed. No
 * request body is held beyond `maxBodyBytes` (plus a chunk): past it the answer is 413.
 */
export async function listenStack(port: number, maxBodyBytes: number, handler: (request: Request) => Promise<Response>): Promise<StackServer> {
  const base = `http://127.0.0.1:${port}`;
  const server = createServer(async (req, res) => {
    try {
      if (FETCH_FORBIDDEN_METHODS.has((req.method ?? '').toUpperCase())) {
        const body = { error: `Method ${req.method} is not allowed.` };
        await sendWebResponse(res, answer(405, deliveryOf(req), body, { allow: 'POST' }));
        return;
      }
      const bridged = toWebRequest(req, base, maxBodyBytes);
      let response: Response;
      try {
        response = await handler(bridged.request);
      } catch (error) {
        // A handler that read past the limit failed on the stream we cut: that is the 413.
        if (!bridged.overLimit()) throw error;
        response = answer(413, deliveryOf(req), { error: `The body is larger than the ${maxBodyBytes}-byte limit.` });
      }
      if (bridged.overLimit() && response.status < 400) {
        response = answer(413, deliveryOf(req), { error: `The body is larger than the ${maxBodyBytes}-byte limit.` });
      }
      if (bridged.complete()) await sendWebResponse(res, response);
      else await answerEarly(req, res, response);
    } catch (error) {
      if (error instanceof MalformedTargetError) {
        await answerEarly(req, res, answer(400, deliveryOf(req), { error: error.message }));
        return;
      }
      logLine({ msg: 'unhandled error', error: String(error) });
      res.statusCode = 500;
      res.end(JSON.stringify({ ok: false, error: 'internal error' }));
    }
  });
  // Expect: 100-continue with a declared body over the limit: answer (413) instead of inviting it.
  server.on('checkContinue', (req, res) => {
    if (!(Number(req.headers['content-length']) > maxBodyBytes)) res.writeContinue();
    server.emit('request', req, res);
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
