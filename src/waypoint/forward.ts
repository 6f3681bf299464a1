/**
 * The per-request pipeline: authz → route → rate limit → filters → backend
 * pick → endpoint (LB, circuit breaker, outlier) → upstream with retries and
 * timeouts → response filters → telemetry. A request uses the config
 * snapshot it started with, so config swaps never disturb it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { authorizeRequest } from './authz.js';
import { type BufferedBody, readBody } from './body.js';
import { Cancel, type CancelSignal } from './cancel.js';
import { type ConfigSnapshot, mergeTraffic } from './config.js';
import { applyRequestFilters, applyResponseFilters, type RequestHead } from './filters.js';
import { BodyFramingError } from './h1/body.js';
import { type HeaderList, headerObject } from './h1/parse.js';
import { CONNECTION_FIELDS } from './h1/serialize.js';
import { nextTraceparent } from './metrics.js';
import {
  attemptTimeoutMs,
  classifyStatus,
  Deadline,
  retryBackoffMs,
  shouldRetry,
} from './resilience/index.js';
import { matchRoute, pickBackend } from './router.js';
import type { Runtime } from './runtime.js';
import { endSpan, startSpan } from './tracing.js';
import type { CompiledRoute, RouteFilter, ServiceConfig, ServiceKey } from './types.js';
import {
  perEndpointPort,
  sendAttempt,
  type UpstreamProtocol,
  type UpstreamRequest,
  type UpstreamResponse,
} from './upstream.js';

/** Downstream request, HTTP/1.1 (h1/server.ts) or HTTP/2 (node:http2 compat API). */
export interface Downstream {
  readonly method: string;
  readonly url: string;
  /** The request body; undefined when the request has none. */
  readonly body: Readable | undefined;
  /**
   * One field's value by lowercase name, repeats joined with ", " (as
   * node:http's header objects); HTTP/2 pseudo-headers too (":authority").
   */
  header(name: string): string | undefined;
  /** The end-to-end fields to send upstream: a fresh object the pipeline may change. */
  forwardHeaders(): OutgoingHttpHeaders;
}

/** A request whose fields are a node:http-style object (HTTP/2). */
export class ObjectDownstream implements Downstream {
  constructor(
    readonly method: string,
    readonly url: string,
    private readonly headers: IncomingHttpHeaders,
    readonly body: Readable | undefined,
  ) {}

  header(name: string): string | undefined {
    return headerValue(this.headers, name);
  }

  forwardHeaders(): OutgoingHttpHeaders {
    return cleanHeaders(this.headers);
  }
}

/**
 * An HTTP/1.1 request: its fields stay the parser's flat list, looked up
 * and copied from there, with no header object built in between (that
 * object and its copy cost ~3.5 µs of a ~23 µs request path at 1000 RPS,
 * docs/performance.md "Fourth pass").
 */
export class ListDownstream implements Downstream {
  constructor(
    readonly method: string,
    readonly url: string,
    private readonly fields: HeaderList,
    readonly body: Readable | undefined,
  ) {}

  header(name: string): string | undefined {
    const f = this.fields;
    let out: string | undefined;
    for (let i = 0; i < f.length; i += 2)
      if (f[i] === name) out = out === undefined ? f[i + 1] : `${out}, ${f[i + 1]}`;
    return out;
  }

  forwardHeaders(): OutgoingHttpHeaders {
    return headerObject(this.fields, HOP_BY_HOP);
  }
}

/** Downstream response writer (h1/server.ts's H1Response, or HTTP/2's). */
export interface DownstreamResponse {
  readonly headersSent: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): void;
  /** Body bytes; false: wait for `onDrain` before writing more. */
  write(chunk: Buffer): boolean;
  onDrain(cb: () => void): void;
  /** Ends the response; `trailers` go out on HTTP/2 only (gRPC status). */
  end(body?: string | Buffer, trailers?: OutgoingHttpHeaders): void;
  destroy(): void;
  /** The client went away (connection closed, stream reset): nothing more reaches it. */
  readonly aborted: boolean;
  /** Calls `cb` once if the client goes away before the response ended. */
  onClose(cb: () => void): void;
}

/** What the tunnel tells the waypoint about a connection. */
export interface ConnectionInfo {
  /** Service key the tunnel's target VIP:port resolved to. */
  readonly service: ServiceKey;
  readonly port: number;
  readonly peerIdentity?: string;
  readonly sourceIp: string;
}

const HOP_BY_HOP: ReadonlySet<string> = new Set([
  ...CONNECTION_FIELDS,
  'http2-settings',
  'host',
  // The waypoint answers `Expect: 100-continue` itself (h1/server.ts).
  'expect',
]);

function cleanHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(':') || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function headerValue(
  h: OutgoingHttpHeaders | IncomingHttpHeaders,
  name: string,
): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : String(v);
}

/**
 * What a request did, for telemetry. Every field exists from the start (no
 * optional ones added later): objects whose shape changes mid-request, and
 * literals with spreads, send V8 to slow runtime paths on every request.
 */
interface Exchange {
  status: number;
  flags: string;
  responseBytes: number;
  requestBytes: number;
  route: string | undefined;
  upstream: string | undefined;
  destinationPrincipal: string | undefined;
}

export async function forward(
  rt: Runtime,
  conn: ConnectionInfo,
  down: Downstream,
  res: DownstreamResponse,
): Promise<void> {
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
  try {
    await pipeline(rt, snap, svc, conn, down, res, ex, reply, {
      authority,
      path,
      rawQuery,
      traceparent: trace.traceparent,
    });
  } catch (err) {
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
  }
}

/** "address:target port" of an endpoint for a service port, for the access log. */
const upstreamAddress = perEndpointPort(
  (ep, servicePort) => `${ep.address}:${ep.ports.get(servicePort) ?? servicePort}`,
);

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

const EMPTY = Buffer.alloc(0);

type Reply = (status: number, flags: string, body: string, headers?: OutgoingHttpHeaders) => void;

async function pipeline(
  rt: Runtime,
  snap: ConfigSnapshot,
  svc: ServiceConfig | undefined,
  conn: ConnectionInfo,
  down: Downstream,
  res: DownstreamResponse,
  ex: Exchange,
  reply: Reply,
  req: { authority: string; path: string; rawQuery: string; traceparent: string },
): Promise<void> {
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
    if (!d.allowed) return reply(403, '-', 'RBAC: access denied');
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
    if (!route) return reply(404, 'NR', 'no matching route');
    ex.route = route.id;
  }
  const limit = route?.rateLimit ?? svc?.rateLimit;
  if (limit) {
    const scope = route?.rateLimit ? route.id : conn.service;
    const d = rt.limiter.take(scope, limit, conn.peerIdentity);
    if (!d.allowed)
      return reply(429, 'RL', 'local_rate_limited', { 'retry-after': String(d.retryAfterSeconds) });
  }
  const head: RequestHead = {
    method: down.method,
    scheme: 'http',
    authority: req.authority,
    path: req.rawQuery ? `${req.path}?${req.rawQuery}` : req.path,
    headers: down.forwardHeaders(),
  };
  let target = { service: conn.service, port: conn.port };
  let responseFilters: RouteFilter[] = [];
  const mirrors: Extract<RouteFilter, { type: 'RequestMirror' }>[] = [];
  if (route) {
    const f = applyRequestFilters(route.filters, head, conn.port, route.match);
    if (f.kind === 'redirect') return reply(f.status, '-', '', { location: f.location });
    mirrors.push(...f.mirrors);
    const choice = pickBackend(route, rt.random);
    if (choice.kind === 'error') return reply(500, 'NR', choice.reason);
    const bf = applyRequestFilters(choice.backend.filters, head, conn.port, route.match);
    if (bf.kind === 'redirect') return reply(bf.status, '-', '', { location: bf.location });
    mirrors.push(...bf.mirrors);
    target = { service: choice.backend.service, port: choice.backend.port };
    responseFilters = [...route.filters, ...choice.backend.filters];
  }
  head.headers.host = head.authority;
  head.headers.traceparent = req.traceparent;
  if (head.headers['x-request-id'] === undefined) head.headers['x-request-id'] = randomUUID();
  const body: BufferedBody =
    down.body === undefined ? EMPTY : await readBody(down.body, rt.maxBufferedBodyBytes);
  ex.requestBytes = Buffer.isBuffer(body)
    ? body.length
    : body.head.reduce((s, b) => s + b.length, 0);
  if (Buffer.isBuffer(body)) {
    for (const m of mirrors)
      if (rt.random() * 100 < m.percent) void mirror(rt, snap, m, head, body);
  }
  const protocol = upstreamProtocol(snap, target, down);
  // gRPC needs `te: trailers` end to end; it is hop-by-hop only in HTTP/1.
  if (protocol === 'h2' && down.header('te') === 'trailers') head.headers.te = 'trailers';
  const upstreamReq: UpstreamRequest = {
    protocol,
    method: head.method,
    path: head.path,
    // Framing (content-length or chunked) is the upstream client's to write.
    headers: head.headers,
    body,
  };
  await send(rt, snap, route, target, upstreamReq, res, ex, reply, responseFilters);
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
  return ['grpc', 'http2', 'h2c', 'kubernetes.io/h2c', 'grpc-web'].includes(ap) ? 'h2' : 'http1';
}

async function send(
  rt: Runtime,
  snap: ConfigSnapshot,
  route: CompiledRoute | undefined,
  target: { service: ServiceKey; port: number },
  upstreamReq: UpstreamRequest,
  res: DownstreamResponse,
  ex: Exchange,
  reply: Reply,
  responseFilters: readonly RouteFilter[],
): Promise<void> {
  // The chosen backend Service's own settings (its DestinationRule /
  // BackendPolicy, as Istio applies a DestinationRule per destination host),
  // with a policy on the route winning for the fields it sets.
  const backendSet = snap.endpoints.get(target.service);
  const traffic = mergeTraffic(
    backendSet?.backend ?? snap.services.get(target.service)?.backend,
    route?.backend,
  );
  const endpoints = backendSet?.endpoints ?? [];
  const peers = () => endpoints.map((e) => e.uid);
  const deadline = new Deadline(rt.clock, route?.requestTimeoutMs ?? 0);
  const replayable = Buffer.isBuffer(upstreamReq.body);
  // The client leaving cancels the attempt in flight at once, as Envoy
  // does (DC): its upstream connection and breaker slot are not held until
  // the app answers a request nobody waits for.
  let current: Cancel | undefined;
  res.onClose(() => current?.abort());
  for (let retries = 0; ; retries++) {
    if (res.aborted) {
      ex.flags = 'DC';
      return;
    }
    const ep = rt.lb.pick(target.service, endpoints, {
      type: traffic?.loadBalancer ?? 'RoundRobin',
      port: target.port,
      isEjected: (e) => rt.outlier.isEjected(e.uid),
      active: (e) => rt.active.get(e.uid) ?? 0,
      locality: rt.locality,
      random: rt.random,
    });
    if (!ep) return reply(503, 'UH', 'no healthy upstream');
    const acquired = rt.breakers.acquire(target.service, traffic);
    const lease = acquired instanceof Promise ? await acquired : acquired;
    if (!lease.ok) return reply(503, 'UO', 'overflow', { 'x-ambit-overflow': lease.limit });
    const timeout = attemptTimeoutMs(deadline, route?.backendRequestTimeoutMs ?? 0);
    if (timeout === 0) {
      lease.lease.release();
      return reply(504, 'UT', 'upstream request timeout');
    }
    // Most routes set no timeout: no timer per request then.
    const cancel = new Cancel();
    current = cancel;
    const timer = timeout === undefined ? undefined : setTimeout(() => cancel.abort(), timeout);
    rt.active.set(ep.uid, (rt.active.get(ep.uid) ?? 0) + 1);
    const done = () => {
      if (timer) clearTimeout(timer);
      rt.active.set(ep.uid, Math.max(0, (rt.active.get(ep.uid) ?? 1) - 1));
      lease.lease.release();
    };
    ex.upstream = upstreamAddress(ep, target.port);
    ex.destinationPrincipal = ep.identity || undefined;
    const result = await sendAttempt(
      rt.pool,
      {
        service: target.service,
        servicePort: target.port,
        endpoint: ep,
        port: ep.ports.get(target.port) ?? target.port,
      },
      upstreamReq,
      cancel,
    );
    // From here stream() watches the client itself.
    current = undefined;
    if (res.aborted) {
      // The client went away while the app was answering (Envoy: DC): no
      // retry, and the app's side of the exchange is reset at once.
      if (result.kind === 'response') result.abort();
      done();
      ex.flags = 'DC';
      return;
    }
    const outcome =
      result.kind === 'response'
        ? { kind: 'status' as const, status: result.res.statusCode }
        : result.outcome;
    rt.outlier.record(
      ep.uid,
      outcome.kind === 'status'
        ? classifyStatus(outcome.status)
        : outcome.kind === 'connect-failure'
          ? 'connect-failure'
          : 'gateway-error',
      traffic,
      peers,
    );
    const again = shouldRetry(route?.retry, outcome, {
      retries,
      responseStarted: res.headersSent,
      bodyReplayable: replayable,
    });
    if (again) {
      if (result.kind === 'response') result.res.body.discard();
      done();
      const wait = Math.min(
        retryBackoffMs(route?.retry?.backoffMs ?? 25, retries + 1, rt.random),
        deadline.remainingMs(),
      );
      await new Promise((r) => setTimeout(r, wait));
      if (deadline.expired()) return reply(504, 'UT', 'upstream request timeout');
      continue;
    }
    if (result.kind === 'failed') {
      done();
      if (result.outcome.kind === 'timeout') return reply(504, 'UT', 'upstream request timeout');
      if (result.outcome.kind === 'connect-failure')
        return reply(503, 'UF', 'upstream connect error');
      if (result.outcome.kind === 'protocol-error')
        return reply(502, 'UPE', 'upstream protocol error');
      return reply(503, 'UC', 'upstream reset before response');
    }
    return stream(
      result.res,
      result.abort,
      res,
      ex,
      responseFilters,
      retries > 0 ? 'URX' : '-',
      done,
      cancel,
    );
  }
}

function stream(
  up: UpstreamResponse,
  abort: () => void,
  res: DownstreamResponse,
  ex: Exchange,
  responseFilters: readonly RouteFilter[],
  flags: string,
  done: () => void,
  signal: CancelSignal | undefined,
): Promise<void> {
  // End-to-end fields only (UpstreamResponse), and ours to change.
  const headers = up.headers;
  applyResponseFilters(responseFilters, headers);
  ex.status = up.statusCode;
  ex.flags = flags;
  res.writeHead(ex.status, headers);
  return new Promise<void>((resolve) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      signal?.removeEventListener('abort', onAbort);
      done();
      resolve();
    };
    const onAbort = () => {
      // The timeout fired after headers were sent: all we can do is reset.
      ex.flags = 'UT';
      abort();
      res.destroy();
      finish();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    // The client went away mid-response: release the upstream exchange
    // instead of leaving it paused (its connection and breaker slot held).
    res.onClose(() => {
      if (finished) return;
      ex.flags = 'DC';
      abort();
      finish();
    });
    const body = up.body;
    const resume = () => body.resume();
    body.pipe({
      data: (c) => {
        ex.responseBytes += c.length;
        if (res.write(c)) return true;
        res.onDrain(resume);
        return false;
      },
      end: (trailers) => {
        if (finished) return;
        res.end(undefined, trailers ? cleanHeaders(trailers) : undefined);
        finish();
      },
      error: () => {
        if (finished) return;
        res.destroy();
        finish();
      },
    });
  });
}

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
    const r = await sendAttempt(
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
