/**
 * The control plane's monitoring port (istiod's 15014): `/metrics` and
 * `/ready` are open, as in Istio; `/debug/*` expose who is connected and the
 * whole mesh config, so they always require an authenticated caller (bearer
 * token or client certificate through the shared Authenticator) and there is
 * no option to open them. Listens on 127.0.0.1 unless told otherwise.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { DrainTask } from '../core/drain.js';
import { errorMessage } from '../core/errors.js';
import { type Logger, logger } from '../telemetry/logger.js';
import {
  type Authenticator,
  type Caller,
  type ConfigDumpQuery,
  credentialsFromHttp,
  XdsServerErrors,
} from './xds/index.js';

export interface MonitoringDebugSource {
  /** `/debug/connections`. */
  connections(): unknown;
  /** `/debug/config_dump?type=&name=`. */
  configDump(query: ConfigDumpQuery): unknown;
}

export interface MonitoringOptions {
  registry: Registry;
  /** Required: debug endpoints are never served without it. */
  authenticate: Authenticator;
  /** Extra check on an authenticated caller for `/debug/*`. Default: any authenticated caller. */
  authorizeDebug?: (caller: Caller) => boolean;
  debug: MonitoringDebugSource;
  /** Readiness; default always ready. */
  ready?: () => boolean;
  /** Port. Default 15014; 0 picks a free one. */
  port?: number;
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Serve HTTPS (and optionally verify client certificates). */
  tls?: { key: Buffer; cert: Buffer; ca?: Buffer; requestCert?: boolean };
  log?: Logger;
}

export class MonitoringServer {
  private readonly server: Server;
  private readonly log: Logger;

  constructor(private readonly opts: MonitoringOptions) {
    this.log = opts.log ?? logger('monitoring');
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.route(req, res).catch((err: unknown) => {
        this.log.error({ err: errorMessage(err), path: req.url }, 'monitoring request failed');
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    };
    this.server = opts.tls
      ? createHttpsServer(
          {
            key: opts.tls.key,
            cert: opts.tls.cert,
            ...(opts.tls.ca ? { ca: opts.tls.ca } : {}),
            requestCert: opts.tls.requestCert ?? false,
            rejectUnauthorized: false,
          },
          handler,
        )
      : createHttpServer(handler);
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 15014, this.opts.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve(this.port);
      });
    });
  }

  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? 0;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { error: 'method not allowed' });
      return;
    }
    switch (url.pathname) {
      case '/metrics': {
        const body = await this.opts.registry.metrics();
        res.writeHead(200, { 'content-type': this.opts.registry.contentType });
        res.end(body);
        return;
      }
      case '/ready': {
        const ok = this.opts.ready?.() ?? true;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
        res.end(ok ? 'ready\n' : 'not ready\n');
        return;
      }
      case '/debug/connections':
      case '/debug/config_dump':
        break;
      default:
        send(res, 404, { error: 'not found' });
        return;
    }
    const caller = await this.authenticate(req, res);
    if (!caller) return;
    if (url.pathname === '/debug/connections') {
      send(res, 200, this.opts.debug.connections());
      return;
    }
    const query: ConfigDumpQuery = {};
    const type = url.searchParams.get('type');
    const name = url.searchParams.get('name');
    const limit = url.searchParams.get('limit');
    if (type) query.type = type;
    if (name) query.name = name;
    if (limit && /^\d+$/.test(limit)) query.limit = Number(limit);
    const dump = this.opts.debug.configDump(query);
    if (dump === null) send(res, 404, { error: 'no such resource' });
    else send(res, 200, dump);
  }

  private async authenticate(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<Caller | undefined> {
    const creds = credentialsFromHttp(req);
    let caller: Caller;
    try {
      caller = await this.opts.authenticate(creds);
    } catch (err) {
      this.log.warn(
        {
          code: XdsServerErrors.UNAUTHENTICATED,
          peer: creds.peer,
          path: req.url,
          reason: errorMessage(err),
        },
        'debug request rejected',
      );
      res.setHeader('www-authenticate', 'Bearer');
      send(res, 401, { error: 'unauthenticated' });
      return undefined;
    }
    if (this.opts.authorizeDebug && !this.opts.authorizeDebug(caller)) {
      send(res, 403, { error: 'forbidden' });
      return undefined;
    }
    return caller;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  drainTask(): DrainTask {
    return {
      name: 'monitoring',
      graceful: () => this.close(),
      force: () => this.server.closeAllConnections(),
    };
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}
