/**
 * Small HTTP servers for the operational surface: admin (localhost-only),
 * metrics (Prometheus) and readiness. Each is a plain node:http server with a
 * route table, bound before the component reports ready.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (req: http.IncomingMessage, url: URL) => Promise<Reply> | Reply;

export interface Reply {
  status?: number;
  /** Objects are sent as JSON; strings as text/plain. */
  body?: unknown;
  contentType?: string;
}

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  handler: Handler;
}

export interface BoundServer {
  readonly server: http.Server;
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Starts a server for the routes; resolves once bound (rejects on EADDRINUSE etc.). */
export async function serve(
  host: string,
  port: number,
  routes: readonly Route[],
): Promise<BoundServer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const forPath = routes.filter((r) => r.path === url.pathname);
    if (forPath.length === 0) return send(res, { status: 404, body: 'not found\n' });
    const route = forPath.find((r) => r.method === req.method);
    if (!route) {
      return send(res, { status: 405, body: `use ${forPath.map((r) => r.method).join(' or ')}\n` });
    }
    Promise.resolve()
      .then(() => route.handler(req, url))
      .then(
        (reply) => send(res, reply),
        (err: unknown) =>
          send(res, { status: 500, body: `${err instanceof Error ? err.message : String(err)}\n` }),
      );
  });
  // Admin endpoints answer small requests; never hold sockets open for long.
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: http.ServerResponse, reply: Reply): void {
  const status = reply.status ?? 200;
  let body: string;
  let type = reply.contentType;
  if (typeof reply.body === 'string') {
    body = reply.body;
    type ??= 'text/plain; charset=utf-8';
  } else if (reply.body === undefined) {
    body = '';
  } else {
    body = `${JSON.stringify(reply.body, null, 2)}\n`;
    type ??= 'application/json';
  }
  res.writeHead(status, {
    'content-type': type ?? 'text/plain',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
