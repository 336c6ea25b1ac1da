// A Postgres server that only goes as far as authentication, for what a real trust-auth server
// cannot show: whether a client asked for TLS (SSLRequest) and which password it sent. It answers
// SSLRequest with 'N' (no TLS here), asks for a cleartext password, records it, and refuses the
// login with the error a real server gives (SQLSTATE 28P01).
import { createServer, type Server, type Socket } from 'node:net';

const SSL_REQUEST = 80_877_103;
const GSS_REQUEST = 80_877_104;
const PROTOCOL_3 = 196_608;

export interface FakeConnection {
  /** The client sent SSLRequest before its startup message. */
  askedForTls: boolean;
  user: string | null;
  database: string | null;
  /** The password it sent, if it got that far. */
  password: string | null;
}

export interface FakePostgres {
  host: string;
  port: number;
  connections: FakeConnection[];
  close(): Promise<void>;
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function authenticationFailed(user: string): Buffer {
  const field = (code: string, text: string) => Buffer.concat([Buffer.from(code, 'latin1'), Buffer.from(text, 'utf8'), Buffer.from([0])]);
  return message('E', Buffer.concat([field('S', 'FATAL'), field('V', 'FATAL'), field('C', '28P01'), field('M', `password authentication failed for user "${user}"`), Buffer.from([0])]));
}

function serve(socket: Socket, connection: FakeConnection): void {
  let buffer = Buffer.alloc(0);
  let startedUp = false;
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (!startedUp) {
        if (buffer.length < 8) return;
        const length = buffer.readInt32BE(0);
        if (buffer.length < length) return;
        const code = buffer.readInt32BE(4);
        const body = buffer.subarray(8, length);
        buffer = buffer.subarray(length);
        if (code === SSL_REQUEST || code === GSS_REQUEST) {
          if (code === SSL_REQUEST) connection.askedForTls = true;
          socket.write('N');
          continue;
        }
        if (code !== PROTOCOL_3) {
          // Not a startup message (a TLS handshake after our 'N', say): a real server hangs up.
          socket.destroy();
          return;
        }
        const parts = body.toString('utf8').split('\0');
        for (let i = 0; i + 1 < parts.length; i += 2) {
          if (parts[i] === 'user') connection.user = parts[i + 1] ?? null;
          if (parts[i] === 'database') connection.database = parts[i + 1] ?? null;
        }
        startedUp = true;
        const cleartext = Buffer.alloc(4);
        cleartext.writeInt32BE(3, 0);
        socket.write(message('R', cleartext));
        continue;
      }
      if (buffer.length < 5) return;
      const length = buffer.readInt32BE(1);
      if (buffer.length < length + 1) return;
      const type = String.fromCharCode(buffer[0] as number);
      const body = buffer.subarray(5, length + 1);
      buffer = buffer.subarray(length + 1);
      if (type === 'p') {
        connection.password = body.subarray(0, body.indexOf(0)).toString('utf8');
        socket.end(authenticationFailed(connection.user ?? ''));
        return;
      }
    }
  });
}

/** Listens on `host` (127.0.0.1 unless another local address is wanted) at a free port. */
export async function startFakePostgres(host = '127.0.0.1'): Promise<FakePostgres> {
  const connections: FakeConnection[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const connection: FakeConnection = { askedForTls: false, user: null, database: null, password: null };
    connections.push(connection);
    serve(socket, connection);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    host,
    port,
    connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
