// The local stack as an HTTP server facing careless or hostile clients, over real sockets: bodies
// past WEBHOOK_MAX_BODY_BYTES are refused before they are read (not buffered whole), a malformed
// request target is a 400, and the CLI only talks to a stack on a loopback address (it sends the
// caller's GITHUB_TOKEN there).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest, createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, HYBRID_PATH, runCli, startStack, type RunningStack } from '../helpers/cli.ts';

const LIMIT = 1024 * 1024;
const DRAIN_SECRET = 'http-test-drain-secret';

/**
 * POSTs `total` bytes in 64 KiB chunks as fast as the server reads them, stopping at its answer;
 * with `pauseAfter`, sends that much and then only waits (10 s) for an answer, as a server that
 * waited for the whole body would never give one. Returns the answer and the bytes written by then.
 */
function postUntilAnswered(
  url: string,
  options: { total: number; pauseAfter?: number; headers?: Record<string, string> },
): Promise<{ status: number; body: string; writtenBeforeAnswer: number }> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const stopAt = Math.min(options.total, options.pauseAfter ?? options.total);
    let written = 0;
    let answered = false;
    // A keep-alive client, as GitHub's is: one that asks for Connection: close is cut at once.
    const agent = new Agent({ keepAlive: true });
    const timer = setTimeout(() => {
      agent.destroy();
      reject(new Error(`no answer within 10 s after ${written} bytes`));
    }, 10_000);
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...options.headers }, agent }, (res) => {
      answered = true;
      const writtenBeforeAnswer = written;
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        agent.destroy();
        resolve({ status: res.statusCode ?? 0, body, writtenBeforeAnswer });
      });
    });
    // A server that stops reading may reset the connection after answering: the answer counts.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const pump = () => {
      while (!answered && written < stopAt) {
        written += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered && written >= options.total) req.end();
    };
    pump();
  });
}

/** Raw bytes on a socket, for what an HTTP client library would refuse to send. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('the local stack over HTTP', () => {
  let dataDir = '';
  let env: Record<string, string> = {};
  let stack: RunningStack;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wr-cli-http-'));
    env = cliEnv({ WEBHOOK_ROUTER_DATA_DIR: dataDir, WEBHOOK_MAX_BODY_BYTES: String(LIMIT), PROCESS_WEBHOOK_SECRET: DRAIN_SECRET });
    stack = await startStack(env);
  });
  afterAll(async () => {
    await stack?.stop(5_000);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('a 200 MiB body without Content-Length gets 413 once the limit is passed, not after it was all read', async () => {
    const answer = await postUntilAnswered(stack.hybridUrl, { total: 200 * 1024 * 1024 });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ ok: false, error: `The body is larger than the ${LIMIT}-byte limit.` });
    // What the client got into the connection before the answer: the limit plus socket buffers
    // (the whole 200 MiB, buffered in memory, before the body was streamed).
    expect(answer.writtenBeforeAnswer).toBeLessThan(24 * 1024 * 1024);
  });

  it('a declared Content-Length of 600 MiB gets 413 with only 1 MiB of it sent (the rest is never awaited)', async () => {
    const total = 600 * 1024 * 1024;
    const answer = await postUntilAnswered(stack.hybridUrl, { total, pauseAfter: 1024 * 1024, headers: { 'content-length': String(total) } });
    expect(answer.status).toBe(413);
  });

  it('Expect: 100-continue with a declared body over the limit gets 413 instead of 100 Continue', async () => {
    const raw = await rawRequest(
      stack.port,
      `POST ${HYBRID_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${600 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`,
    );
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
  });

  it('the limit holds on every path: an authorized drain request with 2 MiB of body gets 413', async () => {
    const answer = await postUntilAnswered(`${stack.base}/functions/v1/process-webhook`, {
      total: 200 * 1024 * 1024,
      pauseAfter: 2 * 1024 * 1024,
      headers: { authorization: `Bearer ${DRAIN_SECRET}` },
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ ok: false, error: `The body is larger than the ${LIMIT}-byte limit.` });
  });

  it('a malformed request target (POST http://[) is answered 400 JSON, not 500', async () => {
    const raw = await rawRequest(stack.port, 'POST http://[ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    const [head = '', body = ''] = raw.split('\r\n\r\n');
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(head.toLowerCase()).toContain('content-type: application/json');
    expect(JSON.parse(body)).toMatchObject({ ok: false, error: 'The request target is not a valid URL.' });
    expect(stack.log.entries.filter((e) => e.msg === 'unhandled error')).toEqual([]);
  });

  it('still serves normal deliveries afterwards', async () => {
    const ping = await runCli(['send', 'ping'], env);
    expect(ping.code, ping.stderr).toBe(0);
    expect(ping.stdout).toMatch(/^200 ping delivery /);
  });
});

describe('the CLI trusts only a loopback URL in stack.json', () => {
  let dataDir = '';
  let elsewhere: Server;
  const seen: string[] = [];
  let url = '';

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wr-cli-stackfile-'));
    // 127.0.0.2 stands for another host: a server there must never hear from the CLI.
    elsewhere = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''} ${body}`);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 0, stdout: 'forwarded\n', stderr: '' }));
      });
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.2', resolve));
    const address = elsewhere.address();
    url = `http://127.0.0.2:${typeof address === 'object' && address ? address.port : 0}`;
    // A live pid (this test's own), so the file is taken for a running stack.
    writeFileSync(
      join(dataDir, 'stack.json'),
      JSON.stringify({ pid: process.pid, url, ready: true, devSecret: 'a'.repeat(32), adminToken: 'b'.repeat(32), database: 'pglite' }),
    );
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => elsewhere?.close(() => resolve()));
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it.each([
    [['stats']],
    [['redeliver', '--repo', 'acme/widgets', '--hook-id', '42', '--dry-run']],
    [['send', 'ping']],
  ])('%j refuses it with a clear error and sends nothing (not even GITHUB_TOKEN)', async (argv) => {
    const result = await runCli(argv, cliEnv({ WEBHOOK_ROUTER_DATA_DIR: dataDir, GITHUB_TOKEN: 'ghp_must_not_leave' }));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: ${join(dataDir, 'stack.json')} names ${url}, which is not a loopback address; the local stack only listens on 127.0.0.1, ::1 or localhost. Remove the file if no stack runs.\n`,
    );
    expect(seen).toEqual([]);
  });
});
