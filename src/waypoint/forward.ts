/**
 * The per-request pipeline: authz → route → rate limit → filters → backend
 * pick → endpoint (LB, circuit breaker, outlier) → upstream with retries and
 * timeouts → response filters → telemetry. A request uses the config
 * snapshot it started with, so config swaps never disturb it.
 */
import { randomUUID } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { type Exchange, type Reply, sendUpstream } from './attempts.js';
import { authorizeRequest } from './authz.js';
import { type BufferedBody, readBody } from './body.js';
import { Cancel } from './cancel.js';
import type { ConfigSnapshot } from './config.js';
import { type CorsPolicy, isPreflight, preflightFields, responseFields } from './cors.js';
import { applyRequestFilters, type RequestHead } from './filters.js';
import { BodyFramingError } from './h1/body.js';
import { type Downstream, type DownstreamResponse, offersWebSocket } from './messages.js';
import { nextTraceparent } from './metrics.js';
import { matchRoute, pickBackend } from './router.js';
import type { Runtime } from './runtime.js';
import { endSpan, startSpan } from './tracing.js';
import type { CompiledRoute, RouteFilter, ServiceConfig, ServiceKey } from './types.js';
import { attempt, type UpstreamProtocol, type UpstreamRequest } from './upstream.js';

/** What the tunnel tells the waypoint about a connection. */
export interface ConnectionInfo {
  /** Service key the tunnel's target VIP:port resolved to. */
  readonly service: ServiceKey;
  readonly port: number;
  readonly peerIdentity?: string;
  readonly sourceIp: string;
}

/**
 * Serves one request. Undefined when it was answered on the spot;
 * otherwise settles once the exchange and its telemetry are done (a
 * rejection is a bug the caller logs).
 */
export function forward(
  rt: Runtime,
  conn: ConnectionInfo,
  down: Downstream,
  res: DownstreamResponse,
): Promise<void> | undefined {
  const start = rt.clock();
  const snap = rt.store.snapshot();
  const svc = snap.services.get(conn.service);
  const authority = down.header(':authority') ?? down.header('host') ?? conn.service;
  const [path = '/', rawQuery = ''] = splitOnce(down.url, '?');
  const protocol = (down.header('content-type') ?? '').startsWith('application/grpc')
    ? 'grpc'
    : 'http';
  const incoming = down.header('traceparent');
  const trace = nextTraceparent(incoming);
  // A span only when the caller sampled the trace: an unsampled request (or
  // one without trace context) costs no OpenTelemetry work at all.
  const span =
    trace.sampled && incoming
      ? startSpan(`${conn.service}:${conn.port}/*`, { traceparent: incoming })
      : undefined;
  const ex: Exchange = {
    status: 0,
    flags: '-',
    responseBytes: 0,
    requestBytes: 0,
    route: undefined,
    upstream: undefined,
    destinationPrincipal: undefined,
  };
  const reply = (
    status: number,
    flags: string,
    body: string,
    headers: OutgoingHttpHeaders = {},
  ) => {
    ex.status = status;
    ex.flags = flags;
    ex.responseBytes = Buffer.byteLength(body);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(body),
      ...headers,
    });
    res.end(body);
  };
  const finished = (): void => {
    if (span) endSpan(span, ex.status);
    rt.metrics?.recordRequest({
      sourcePrincipal: conn.peerIdentity || undefined,
      sourceIp: conn.sourceIp,
      destinationService: conn.service,
      destinationPrincipal: ex.destinationPrincipal || undefined,
      destinationWorkload: undefined,
      method: down.method,
      path,
      authority,
      protocol,
      status: ex.status,
      flags: ex.flags,
      durationMs: rt.clock() - start,
      requestBytes: ex.requestBytes,
      responseBytes: ex.responseBytes,
      route: ex.route,
      upstream: ex.upstream,
      traceId: trace.traceId,
      grpcStatus: undefined,
    });
  };
  const failed = (err: unknown): void => {
    try {
      if (err instanceof BodyFramingError) {
        // The HTTP/1.1 engine already answered 400 and closed the connection.
        ex.status = 400;
        ex.flags = 'DPE';
      } else {
        rt.log.warn({ err, service: conn.service }, 'request failed');
        if (ex.status === 0)
          reply(503, 'DC', 'upstream connect error or disconnect/reset before headers');
      }
    } finally {
      finished();
    }
  };
  let pending: Promise<void> | undefined;
  try {
    pending = pipeline(rt, snap, svc, conn, down, res, ex, reply, {
      authority,
      path,
      rawQuery,
      traceparent: trace.traceparent,
    });
  } catch (err) {
    failed(err);
    return undefined;
  }
  if (pending === undefined) {
    finished();
    return undefined;
  }
  return pending.then(finished, failed);
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

const EMPTY = Buffer.alloc(0);
const NO_FILTERS: readonly RouteFilter[] = [];

/**
 * The request's way through policy, routing and filters to the upstream
 * send. Undefined when it was answered on the spot (403, 404, 429, a
 * redirect); otherwise settles when the exchange is over. Not an async
 * function: two awaits between the answer and the telemetry record were
 * two microtask turns after every response.
 */
function pipeline(
  rt: Runtime,
  snap: ConfigSnapshot,
  svc: ServiceConfig | undefined,
  conn: ConnectionInfo,
  down: Downstream,
  res: DownstreamResponse,
  ex: Exchange,
  reply: Reply,
  req: { authority: string; path: string; rawQuery: string; traceparent: string },
): Promise<void> | undefined {
  const header = (name: string) => down.header(name);
  if (svc && svc.policies.length > 0) {
    const hostOnly = req.authority.replace(/:\d+$/, '');
    const d = authorizeRequest(svc.policies, {
      ...(conn.peerIdentity ? { principal: conn.peerIdentity } : {}),
      sourceIp: conn.sourceIp,
      method: down.method,
      path: req.path,
      host: hostOnly,
      port: conn.port,
      headers: header,
    });
    if (d.audit.length > 0)
      rt.log.info({ audit: d.audit, path: req.path, principal: conn.peerIdentity }, 'authz audit');
    if (!d.allowed) return void reply(403, '-', 'RBAC: access denied');
  }
  let route: CompiledRoute | undefined;
  if (svc && svc.routes.length > 0) {
    route = matchRoute(svc, {
      method: down.method,
      path: req.path,
      query: new URLSearchParams(req.rawQuery),
      header,
      port: conn.port,
    });
    if (!route) return void reply(404, 'NR', 'no matching route');
    ex.route = route.id;
  }
  const limit = route?.rateLimit ?? svc?.rateLimit;
  if (limit) {
    const scope = route?.rateLimit ? route.id : conn.service;
    const d = rt.limiter.take(scope, limit, conn.peerIdentity);
    if (!d.allowed)
      return void reply(429, 'RL', 'local_rate_limited', {
        'retry-after': String(d.retryAfterSeconds),
      });
  }
  // The fields object is built only for filters, mirrors and HTTP/2; a
  // plain HTTP/1.1 request goes upstream as lines built from the parsed
  // head (FieldLines), with no object in between.
  const requestTarget = req.rawQuery ? `${req.path}?${req.rawQuery}` : req.path;
  let head: RequestHead | undefined;
  const objectHead = (): RequestHead =>
    (head ??= {
      method: down.method,
      scheme: 'http',
      authority: req.authority,
      path: requestTarget,
      headers: down.forwardHeaders(),
    });
  let target = { service: conn.service, port: conn.port };
  let responseFilters: readonly RouteFilter[] = NO_FILTERS;
  let mirrors: readonly Extract<RouteFilter, { type: 'RequestMirror' }>[] | undefined;
  let corsFields: Record<string, string> | undefined;
  if (route) {
    const cors = corsPolicy(route.filters);
    if (cors !== undefined) {
      const origin = down.header('origin');
      const asked = down.header('access-control-request-method');
      // A preflight is the waypoint's to answer; it never reaches the app.
      if (isPreflight(down.method, origin, asked))
        return void reply(
          200,
          '-',
          '',
          preflightFields(
            cors,
            origin as string,
            asked,
            down.header('access-control-request-headers'),
          ),
        );
      if (origin !== undefined) corsFields = responseFields(cors, origin);
    }
    if (route.filters.length > 0) {
      const f = applyRequestFilters(route.filters, objectHead(), conn.port, route.match);
      if (f.kind === 'redirect') return void reply(f.status, '-', '', { location: f.location });
      mirrors = f.mirrors;
    }
    const choice = pickBackend(route, rt.random);
    if (choice.kind === 'error') return void reply(500, 'NR', choice.reason);
    if (choice.backend.filters.length > 0) {
      const bf = applyRequestFilters(choice.backend.filters, objectHead(), conn.port, route.match);
      if (bf.kind === 'redirect') return void reply(bf.status, '-', '', { location: bf.location });
      mirrors = mirrors ? [...mirrors, ...bf.mirrors] : bf.mirrors;
    }
    target = { service: choice.backend.service, port: choice.backend.port };
    if (route.filters.length > 0 || choice.backend.filters.length > 0)
      responseFilters = [...route.filters, ...choice.backend.filters];
    if (corsFields !== undefined) responseFilters = [...responseFilters, corsModifier(corsFields)];
  }
  const protocol = upstreamProtocol(snap, target, down);
  // WebSocket goes on as an HTTP/1.1 upgrade; the 101 turns the exchange
  // into a byte relay (attempts.ts). Other upgrades are dropped (hop-by-hop).
  const upgrade =
    protocol === 'http1' && res.upgrade !== undefined && offersWebSocket(down.upgrade)
      ? down.upgrade
      : undefined;
  const lines =
    head === undefined && protocol === 'http1'
      ? down.forwardLines(req.authority, req.traceparent)
      : undefined;
  let headers: OutgoingHttpHeaders | undefined;
  if (lines === undefined) {
    const h = objectHead();
    h.headers.host = h.authority;
    h.headers.traceparent = req.traceparent;
    if (h.headers['x-request-id'] === undefined) h.headers['x-request-id'] = randomUUID();
    // gRPC needs `te: trailers` end to end; it is hop-by-hop only in HTTP/1.
    if (protocol === 'h2' && down.header('te') === 'trailers') h.headers.te = 'trailers';
    headers = h.headers;
  }
  const send = (body: BufferedBody): Promise<void> => {
    ex.requestBytes = Buffer.isBuffer(body)
      ? body.length
      : body.head.reduce((s, b) => s + b.length, 0);
    if (head !== undefined && mirrors !== undefined && Buffer.isBuffer(body)) {
      for (const m of mirrors)
        if (rt.random() * 100 < m.percent) void mirror(rt, snap, m, head, body);
    }
    // Framing (content-length or chunked) is the upstream client's to write.
    const method = head?.method ?? down.method;
    const path = head?.path ?? requestTarget;
    const upstreamReq: UpstreamRequest =
      protocol === 'h2'
        ? { protocol, method, path, headers: headers ?? {}, body }
        : upgrade !== undefined
          ? { protocol, method, path, headers: lines ?? headers ?? {}, body, upgrade }
          : { protocol, method, path, headers: lines ?? headers ?? {}, body };
    return sendUpstream(rt, snap, route, target, upstreamReq, res, ex, reply, responseFilters);
  };
  return down.body === undefined
    ? send(EMPTY)
    : readBody(down.body, rt.maxBufferedBodyBytes).then(send);
}

/** The route rule's CORS policy, if it has a CORS filter (the first counts). */
function corsPolicy(filters: readonly RouteFilter[]): CorsPolicy | undefined {
  for (const f of filters) if (f.type === 'CORS') return f.policy;
  return undefined;
}

/**
 * CORS fields as a response filter run after the route's own: they are
 * set, except `Vary`, which is added to the app's.
 */
function corsModifier(fields: Record<string, string>): RouteFilter {
  const set: [string, string][] = [];
  const add: [string, string][] = [];
  for (const [k, v] of Object.entries(fields)) (k === 'vary' ? add : set).push([k, v]);
  return { type: 'ResponseHeaderModifier', modifier: { set, add, remove: [] } };
}

/**
 * HTTP/2 towards the app for gRPC (content-type application/grpc*, which
 * cannot be carried over HTTP/1.1) and when the target port declares HTTP/2
 * (appProtocol grpc, http2, h2c, kubernetes.io/h2c); HTTP/1.1 otherwise, as
 * Istio does for a plain `http` port (an h2c client can reach an HTTP/1 app).
 */
function upstreamProtocol(
  snap: ConfigSnapshot,
  target: { service: ServiceKey; port: number },
  down: Downstream,
): UpstreamProtocol {
  if ((down.header('content-type') ?? '').startsWith('application/grpc')) return 'h2';
  const ap = snap.services.get(target.service)?.ports.get(target.port)?.appProtocol ?? '';
  return H2_APP_PROTOCOLS.has(ap) ? 'h2' : 'http1';
}

/** Service port protocols the app serves as HTTP/2 (a constant: this runs per request). */
const H2_APP_PROTOCOLS: ReadonlySet<string> = new Set([
  'grpc',
  'http2',
  'h2c',
  'kubernetes.io/h2c',
  'grpc-web',
]);

async function mirror(
  rt: Runtime,
  snap: ConfigSnapshot,
  m: Extract<RouteFilter, { type: 'RequestMirror' }>,
  head: RequestHead,
  body: Buffer,
): Promise<void> {
  const endpoints = snap.endpoints.get(m.service)?.endpoints ?? [];
  const ep = rt.lb.pick(m.service, endpoints, {
    type: 'RoundRobin',
    port: m.port,
    isEjected: () => false,
    active: () => 0,
  });
  if (!ep) return;
  const cancel = new Cancel();
  const timer = setTimeout(() => cancel.abort(), 30_000);
  try {
    const host = String(head.headers.host ?? '');
    const r = await attempt(
      rt.pool,
      {
        service: m.service,
        servicePort: m.port,
        endpoint: ep,
        port: ep.ports.get(m.port) ?? m.port,
      },
      {
        method: head.method,
        path: head.path,
        headers: { ...head.headers, host: `${host}-shadow`, 'content-length': String(body.length) },
        body,
      },
      cancel,
    );
    if (r.kind === 'response') r.res.body.resume();
  } catch (err) {
    rt.log.debug({ err, mirror: m.service }, 'mirror failed');
  } finally {
    clearTimeout(timer);
  }
}
