import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, createServer, request, type Server } from 'node:http';
import { createServer as createH2Server, connect as h2connect } from 'node:http2';
import {
  type AddressInfo,
  connect,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Registry } from 'prom-client';
import {
  AuthorizationPolicy_Action,
  BackendTrafficSchema,
  Route_Kind,
  RouteMatch_PathType,
  type RouteSchema,
  ServiceEndpointsSchema,
  WaypointServiceSchema,
} from '../gen/ambit/waypoint_pb.js';
import { ConfigStore } from './config.js';
import { WaypointMetrics } from './metrics.js';
import { WaypointProxy } from './proxy.js';
import type { UpstreamConnector } from './upstream.js';

const NS = 'shop';
const HOST = (n: string) => `${n}.shop.svc.cluster.local`;
const KEY = (n: string) => `${NS}/${HOST(n)}`;
const PEER = 'spiffe://cluster.local/ns/shop/sa/frontend';

type Handler = (
  req: import('node:http').IncomingMessage,
  res: import('node:http').ServerResponse,
) => void;

async function listen(t: TestContext, s: Server | TcpServer): Promise<number> {
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  t.after(() => {
    if ('closeAllConnections' in s) s.closeAllConnections();
    s.close();
  });
  return (s.address() as AddressInfo).port;
}

async function upstream(
  t: TestContext,
  handler: Handler,
): Promise<{ port: number; hits: () => number }> {
  let hits = 0;
  const s = createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  return { port: await listen(t, s), hits: () => hits };
}

const reply =
  (body: string, status = 200): Handler =>
  (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'text/plain', 'x-seen-path': req.url ?? '' });
      res.end(body);
    });
  };

const tcpConnector: UpstreamConnector = {
  connect: (target, signal) =>
    new Promise((resolve, reject) => {
      const s: Socket = connect(target.port, target.endpoint.address);
      const abort = () => s.destroy(new Error('aborted'));
      signal.addEventListener('abort', abort, { once: true });
      s.once('connect', () => {
        signal.removeEventListener('abort', abort);
        resolve(s);
      });
      s.once('error', reject);
    }),
};

function endpoints(name: string, ports: number[]) {
  return create(ServiceEndpointsSchema, {
    name,
    namespace: NS,
    hostname: HOST(name),
    endpoints: ports.map((p, i) => ({
      workloadUid: `${name}-${i}`,
      address: new Uint8Array([127, 0, 0, 1]),
      ports: { 80: p },
      identity: `spiffe://cluster.local/ns/shop/sa/${name}`,
      healthy: true,
    })),
  });
}

type RouteInit = MessageInitShape<typeof RouteSchema>;
type SvcInit = MessageInitShape<typeof WaypointServiceSchema>;

interface Setup {
  store: ConfigStore;
  get: (
    path: string,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; body: string; headers: import('node:http').IncomingHttpHeaders }>;
  port: number;
  registry: Registry;
  proxy: WaypointProxy;
}

async function waypoint(
  t: TestContext,
  svc: Partial<MessageInitShape<typeof WaypointServiceSchema>>,
  eps: ReturnType<typeof endpoints>[],
  opts: { maxHeaderBytes?: number; headersTimeoutMs?: number; idleTimeoutMs?: number } = {},
): Promise<Setup> {
  const store = new ConfigStore();
  const res = store.applyServices([
    create(WaypointServiceSchema, {
      name: 'catalog',
      namespace: NS,
      hostname: HOST('catalog'),
      ...svc,
    } as SvcInit),
  ]);
  assert.equal(res.errors.size, 0, [...res.errors.values()].join());
  store.applyEndpoints(eps);
  const registry = new Registry();
  const proxy = new WaypointProxy({
    store,
    connector: tcpConnector,
    metrics: new WaypointMetrics(registry),
    ...opts,
  });
  const server = createTcpServer((sock) =>
    proxy.handle(sock, {
      service: KEY('catalog'),
      port: 80,
      peerIdentity: PEER,
      sourceIp: sock.remoteAddress ?? '',
    }),
  );
  const port = await listen(t, server);
  t.after(() => proxy.close());
  const agent = new Agent({ keepAlive: true, maxSockets: 20 });
  t.after(() => agent.destroy());
  const get: Setup['get'] = (path, headers = {}) =>
    new Promise((resolve, reject) => {
      const r = request(
        { host: '127.0.0.1', port, path, agent, headers: { host: HOST('catalog'), ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString(),
              headers: res.headers,
            }),
          );
        },
      );
      r.on('error', reject);
      r.end();
    });
  return { store, get, port, registry, proxy };
}

const route = (r: RouteInit): RouteInit =>
  ({ route: `${NS}/catalog`, match: { path: '/' }, ...r }) as RouteInit;

describe('waypoint engine (real sockets)', () => {
  it('splits 90/10 between v1 and v2', async (t) => {
    const v1 = await upstream(t, reply('v1'));
    const v2 = await upstream(t, reply('v2'));
    const w = await waypoint(
      t,
      {
        routes: [
          route({
            backends: [
              { service: KEY('v1'), port: 80, weight: 90 },
              { service: KEY('v2'), port: 80, weight: 10 },
            ],
          }),
        ],
      },
      [endpoints('v1', [v1.port]), endpoints('v2', [v2.port])],
    );
    let v2count = 0;
    for (let batch = 0; batch < 50; batch++) {
      const rs = await Promise.all(Array.from({ length: 20 }, () => w.get('/items')));
      for (const r of rs) {
        assert.equal(r.status, 200);
        if (r.body === 'v2') v2count++;
      }
    }
    assert.ok(v2count >= 50 && v2count <= 150, `v2 share ${v2count}/1000`);
    // Per-endpoint request counts (least-request LB) keep no idle endpoints.
    assert.equal(w.proxy.runtime.active.size, 0);
    const metrics = await w.registry.getSingleMetricAsString('istio_requests_total');
    assert.match(metrics, /reporter="waypoint"/);
    assert.match(metrics, /source_principal="spiffe:\/\/cluster.local\/ns\/shop\/sa\/frontend"/);
    assert.match(metrics, /connection_security_policy="mutual_tls"/);
  });

  it('header match routes all to v2; filters rewrite the path; h2c works', async (t) => {
    const v1 = await upstream(t, reply('v1'));
    const v2 = await upstream(t, reply('v2'));
    const w = await waypoint(
      t,
      {
        routes: [
          route({
            match: { path: '/', headers: [{ name: 'x-canary', value: 'true' }] },
            filters: [
              {
                kind: {
                  case: 'urlRewrite',
                  value: { path: { kind: { case: 'replacePrefixMatch', value: '/v2' } } },
                },
              },
            ],
            backends: [{ service: KEY('v2'), port: 80, weight: 1 }],
          }),
          route({
            filters: [
              {
                kind: { case: 'responseHeaderModifier', value: { set: { 'x-route': 'default' } } },
              },
            ],
            backends: [{ service: KEY('v1'), port: 80, weight: 1 }],
          }),
        ],
      },
      [endpoints('v1', [v1.port]), endpoints('v2', [v2.port])],
    );
    for (let i = 0; i < 20; i++) {
      const r = await w.get('/items', { 'x-canary': 'true' });
      assert.equal(r.body, 'v2');
      assert.equal(r.headers['x-seen-path'], '/v2/items');
    }
    const d = await w.get('/items');
    assert.equal(d.body, 'v1');
    assert.equal(d.headers['x-route'], 'default');
    const session = h2connect(`http://127.0.0.1:${w.port}`);
    t.after(() => session.close());
    const stream = session.request({
      ':path': '/x',
      ':authority': HOST('catalog'),
      'x-canary': 'true',
    });
    const [headers] = (await once(stream, 'response')) as [Record<string, string | number>];
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => {
      body += c;
    });
    await once(stream, 'end');
    assert.equal(headers[':status'], 200);
    assert.equal(body, 'v2');
  });

  it('keeps upstream connections alive; an app closing idle ones is not a 503', async (t) => {
    let conns = 0;
    const s = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    s.on('connection', () => conns++);
    const port = await listen(t, s);
    const w = await waypoint(t, { ports: [{ port: 80, name: 'http' }] }, [
      endpoints('catalog', [port]),
    ]);
    for (let i = 0; i < 20; i++) assert.equal((await w.get('/a')).status, 200);
    assert.equal(conns, 1, 'sequential requests reuse one upstream connection');
    for (let i = 0; i < 5; i++) {
      s.closeIdleConnections();
      const r = await w.get('/b');
      assert.equal(r.status, 200, r.body);
    }
    assert.ok(conns >= 2, 'connections the app closed were replaced');
  });

  it('a request that meets a keep-alive connection the app just closed is replayed once on a fresh one', async (t) => {
    // The race in the wild: the app closes an idle connection just as the
    // waypoint reuses it. Here deterministically: each connection answers
    // its first request and is cut (no answer) on its second.
    let conns = 0;
    let cut = 0;
    const s = createTcpServer((sock) => {
      conns++;
      let served = 0;
      sock.on('data', () => {
        if (served++ === 0) sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        else {
          cut++;
          sock.destroy();
        }
      });
      sock.on('error', () => {});
    });
    const port = await listen(t, s);
    const w = await waypoint(t, { ports: [{ port: 80, name: 'http' }] }, [
      endpoints('catalog', [port]),
    ]);
    for (let i = 0; i < 4; i++) {
      const r = await w.get('/a');
      assert.equal(r.status, 200, `request ${i}: ${r.body}`);
      assert.equal(r.body, 'ok');
    }
    assert.equal(cut, 3, 'requests 2–4 each met a connection the app cut');
    assert.equal(conns, 4, 'each was replayed on a fresh connection');
  });

  it('retries a failing endpoint and succeeds', async (t) => {
    const bad = await upstream(t, reply('bad', 503));
    const good = await upstream(t, reply('good'));
    const w = await waypoint(
      t,
      {
        routes: [
          route({
            retry: { codes: [503], attempts: 2, backoffMs: 1n },
            backends: [{ service: KEY('v1'), port: 80, weight: 1 }],
          }),
        ],
      },
      [endpoints('v1', [bad.port, good.port])],
    );
    for (let i = 0; i < 10; i++) {
      const r = await w.get('/');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'good');
    }
    assert.ok(bad.hits() > 0, 'the failing endpoint was tried');
  });

  it('per-try timeout and request timeout answer 504', async (t) => {
    const slow = await upstream(t, (req, res) => {
      const timer = setTimeout(() => res.end('late'), 5000);
      res.on('close', () => clearTimeout(timer));
      req.resume();
    });
    const w = await waypoint(
      t,
      {
        routes: [
          route({
            match: { path: '/try' },
            backendRequestTimeoutMs: 100n,
            backends: [{ service: KEY('v1'), port: 80, weight: 1 }],
          }),
          route({
            match: { path: '/req' },
            requestTimeoutMs: 300n,
            backendRequestTimeoutMs: 100n,
            retry: { codes: [504], attempts: 10, backoffMs: 1n },
            backends: [{ service: KEY('v1'), port: 80, weight: 1 }],
          }),
        ],
      },
      [endpoints('v1', [slow.port])],
    );
    assert.equal((await w.get('/try')).status, 504);
    const r = await w.get('/req');
    assert.equal(r.status, 504);
    assert.ok(slow.hits() >= 3, `retried within the request timeout (${slow.hits()} attempts)`);
  });

  it('a client leaving before the app answers cancels the upstream request (DC)', async (t) => {
    // The app never answers on its own; it records when the waypoint drops
    // each request, which must happen when the client leaves, not later.
    const dropped: number[] = [];
    let received = 0;
    const arrived: (() => void)[] = [];
    const hang = await upstream(t, (req, res) => {
      received++;
      for (const f of arrived.splice(0)) f();
      const start = performance.now();
      res.on('close', () => dropped.push(performance.now() - start));
      req.resume();
    });
    const w = await waypoint(t, { routes: [] }, [endpoints('catalog', [hang.port])]);
    const nextArrival = () => new Promise<void>((r) => arrived.push(r));

    // HTTP/1.1: the client sends a request and resets its connection (a
    // FIN alone is a half-close: that client still gets its answer).
    const a = nextArrival();
    const c = connect(w.port, '127.0.0.1');
    c.on('error', () => {});
    c.write(`GET /slow HTTP/1.1\r\nhost: ${HOST('catalog')}\r\n\r\n`);
    await a;
    c.resetAndDestroy();
    // HTTP/2 (h2c, gRPC): the client cancels its stream (a gRPC deadline
    // does this); the session stays.
    const b = nextArrival();
    const session = h2connect(`http://127.0.0.1:${w.port}`);
    t.after(() => session.destroy());
    const stream = session.request({ ':path': '/slow', ':authority': HOST('catalog') });
    stream.on('error', () => {});
    stream.end();
    await b;
    stream.close(0x8);

    const deadline = Date.now() + 3000;
    while (dropped.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(received, 2);
    assert.equal(dropped.length, 2, 'both upstream requests were cancelled');
    for (const ms of dropped) assert.ok(ms < 2000, `cancelled ${ms.toFixed(0)} ms after arrival`);
    const metrics = await w.registry.getSingleMetricAsString('istio_requests_total');
    assert.match(metrics, /response_flags="DC"[^\n]* 2$/m);
  });

  it('outlier detection stops sending to a failing endpoint', async (t) => {
    const bad = await upstream(t, reply('bad', 500));
    const good = await upstream(t, reply('good'));
    const w = await waypoint(
      t,
      { backend: { consecutive5xxErrors: 2, baseEjectionTimeMs: 60_000n, maxEjectionPercent: 50 } },
      [endpoints('catalog', [bad.port, good.port])],
    );
    for (let i = 0; i < 6; i++) await w.get('/');
    const before = bad.hits();
    assert.equal(before, 2);
    for (let i = 0; i < 20; i++) assert.equal((await w.get('/')).status, 200);
    assert.equal(bad.hits(), before, 'no traffic to the ejected endpoint');
  });

  it("a route's backend Service uses its own outlier settings, not the parent Service's", async (t) => {
    const bad = await upstream(t, reply('bad', 503));
    const good = await upstream(t, reply('good'));
    const v1 = endpoints('catalog-v1', [bad.port, good.port]);
    // The backend's DestinationRule / BackendPolicy travels with its endpoints.
    v1.backend = create(BackendTrafficSchema, {
      consecutive5xxErrors: 2,
      baseEjectionTimeMs: 60_000n,
      maxEjectionPercent: 50,
    });
    const w = await waypoint(
      t,
      {
        // The parent's own settings must not apply to another Service's endpoints.
        backend: { consecutive5xxErrors: 100 },
        routes: [route({ backends: [{ service: KEY('catalog-v1'), port: 80, weight: 1 }] })],
      },
      [endpoints('catalog', []), v1],
    );
    const statuses: number[] = [];
    for (let i = 0; i < 24; i++) statuses.push((await w.get('/')).status);
    assert.equal(bad.hits(), 2, 'ejected after two consecutive failures');
    assert.deepEqual(statuses.slice(4), Array(20).fill(200));
  });

  it('serves a workload entry: any port, to the workload itself', async (t) => {
    const up = await upstream(t, reply('pod'));
    const store = new ConfigStore();
    const host = '127-0-0-1.shop.pod.cluster.local';
    store.applyServices([
      create(WaypointServiceSchema, {
        name: 'target-0',
        namespace: NS,
        hostname: host,
        workload: 'Kubernetes//Pod/shop/target-0',
        vips: [new Uint8Array([127, 0, 0, 1])],
      }),
    ]);
    store.applyEndpoints([
      create(ServiceEndpointsSchema, {
        name: 'target-0',
        namespace: NS,
        hostname: host,
        endpoints: [
          {
            workloadUid: 'Kubernetes//Pod/shop/target-0',
            address: new Uint8Array([127, 0, 0, 1]),
            identity: 'spiffe://cluster.local/ns/shop/sa/target',
            healthy: true,
            allPorts: true,
          },
        ],
      }),
    ]);
    const svc = store.resolve('127.0.0.1');
    assert.equal(svc?.workload, 'Kubernetes//Pod/shop/target-0');
    assert.equal(svc?.ports.size, 0, 'every port');
    const proxy = new WaypointProxy({ store, connector: tcpConnector });
    t.after(() => proxy.close());
    const server = createTcpServer((sock) =>
      proxy.handle(sock, { service: `${NS}/${host}`, port: up.port, sourceIp: '127.0.0.1' }),
    );
    const port = await listen(t, server);
    const body = await new Promise<string>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => {
          b += c;
        });
        res.on('end', () => resolve(`${res.statusCode} ${b}`));
      });
      r.on('error', reject);
      r.end();
    });
    assert.equal(body, '200 pod');
    assert.equal(up.hits(), 1);
  });

  it('rate limit answers 429 with retry-after', async (t) => {
    const up = await upstream(t, reply('ok'));
    const w = await waypoint(t, { rateLimit: { requests: 1, intervalMs: 60_000n, burst: 1 } }, [
      endpoints('catalog', [up.port]),
    ]);
    assert.equal((await w.get('/')).status, 200);
    const r = await w.get('/');
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '60');
    const m = await w.registry.getSingleMetricAsString('istio_requests_total');
    assert.match(m, /response_flags="RL"/);
  });

  it('L7 deny answers 403 RBAC: access denied', async (t) => {
    const up = await upstream(t, reply('ok'));
    const w = await waypoint(
      t,
      {
        policies: [
          {
            name: 'no-admin',
            namespace: NS,
            action: AuthorizationPolicy_Action.DENY,
            rules: [{ to: [{ paths: ['/admin*'] }] }],
          },
        ],
      },
      [endpoints('catalog', [up.port])],
    );
    const r = await w.get('/admin/users');
    assert.equal(r.status, 403);
    assert.equal(r.body, 'RBAC: access denied');
    assert.equal((await w.get('/public')).status, 200);
    assert.equal(up.hits(), 1);
  });

  it('oversized headers → 431, malformed HTTP → 400', async (t) => {
    const up = await upstream(t, reply('ok'));
    const w = await waypoint(t, {}, [endpoints('catalog', [up.port])], { maxHeaderBytes: 4096 });
    assert.equal((await w.get('/', { 'x-big': 'a'.repeat(8000) })).status, 431);
    const raw = async (bytes: string) => {
      const s = connect(w.port, '127.0.0.1');
      t.after(() => s.destroy());
      s.end(bytes);
      let out = '';
      s.setEncoding('latin1');
      s.on('data', (c: string) => {
        out += c;
      });
      await once(s, 'close');
      return out;
    };
    assert.match(await raw('GET / HTTP/1.1\r\nbad header line\r\n\r\n'), /^HTTP\/1\.1 400/);
    assert.equal(up.hits(), 0);
    // Refused requests are counted, with Envoy's flag for a downstream protocol error.
    const m = await w.registry.getSingleMetricAsString('istio_requests_total');
    assert.match(m, /response_code="400",grpc_response_status="",response_flags="DPE"} 1/);
    assert.match(m, /response_code="431",grpc_response_status="",response_flags="DPE"} 1/);
  });

  it('a slow request head is cut off (slowloris)', async (t) => {
    const up = await upstream(t, reply('ok'));
    const w = await waypoint(t, {}, [endpoints('catalog', [up.port])], { headersTimeoutMs: 300 });
    const s = connect(w.port, '127.0.0.1');
    t.after(() => s.destroy());
    s.write('GET / HTTP/1.1\r\nhost: x\r\n');
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => {
      out += c;
    });
    await once(s, 'close');
    assert.match(out, /^HTTP\/1\.1 408/);
    assert.equal(up.hits(), 0);
  });

  it('non-HTTP bytes are proxied as TCP', async (t) => {
    const echo = createTcpServer((s) => s.pipe(s));
    const port = await listen(t, echo);
    const w = await waypoint(t, {}, [endpoints('catalog', [port])]);
    const s = connect(w.port, '127.0.0.1');
    t.after(() => s.destroy());
    s.write('\x16\x03\x01binary');
    const [data] = (await once(s, 'data')) as [Buffer];
    assert.equal(data.toString('latin1'), '\x16\x03\x01binary');
  });

  it('a config swap mid-flight does not fail in-flight requests', async (t) => {
    const slow = await upstream(t, (req, res) => {
      req.resume();
      setTimeout(() => res.end('slow'), 300);
    });
    const other = await upstream(t, reply('other'));
    const w = await waypoint(
      t,
      { routes: [route({ backends: [{ service: KEY('v1'), port: 80, weight: 1 }] })] },
      [endpoints('v1', [slow.port])],
    );
    const inflight = Promise.all(Array.from({ length: 5 }, () => w.get('/')));
    await new Promise((r) => setTimeout(r, 50));
    w.store.applyServices([
      create(WaypointServiceSchema, {
        name: 'catalog',
        namespace: NS,
        hostname: HOST('catalog'),
        routes: [route({ backends: [{ service: KEY('v2'), port: 80, weight: 1 }] })],
      }),
    ]);
    w.store.applyEndpoints([endpoints('v2', [other.port])], [KEY('v1')]);
    for (const r of await inflight) {
      assert.equal(r.status, 200);
      assert.equal(r.body, 'slow');
    }
    assert.equal((await w.get('/')).body, 'other');
  });
});

/** Writes `bytes` to the waypoint, half-closes, and returns everything it answers. */
async function exchange(t: TestContext, port: number, bytes: string | Buffer, end = true) {
  const s = connect(port, '127.0.0.1');
  t.after(() => s.destroy());
  if (end) s.end(bytes);
  else s.write(bytes);
  let out = '';
  s.setEncoding('latin1');
  s.on('data', (c: string) => {
    out += c;
  });
  s.on('error', () => {});
  await once(s, 'close');
  return out;
}

function call(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: import('node:http').IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('waypoint GRPCRoute rules (real h2c)', () => {
  it('routes gRPC calls by service and method; plain HTTP to the same path is not a gRPC call', async (t) => {
    const grpcApp = async (name: string) => {
      const s = createH2Server();
      s.on('stream', (stream, headers) => {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'x-version': name },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.from([0, 0, 0, 0, 0]));
        void headers;
      });
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      t.after(() => s.close());
      return (s.address() as AddressInfo).port;
    };
    const v1 = await grpcApp('v1');
    const v2 = await grpcApp('v2');
    const plain = await upstream(t, reply('plain'));
    const w = await waypoint(
      t,
      {
        ports: [{ port: 80, name: 'grpc', appProtocol: 'grpc' }],
        routes: [
          route({
            route: `${NS}/greeter`,
            kind: Route_Kind.GRPC_ROUTE,
            match: { pathType: RouteMatch_PathType.EXACT, path: '/shop.Catalog/Get' },
            backends: [{ service: KEY('v2'), port: 80, weight: 1 }],
          }),
          route({
            route: `${NS}/greeter`,
            ruleIndex: 1,
            kind: Route_Kind.GRPC_ROUTE,
            backends: [{ service: KEY('v1'), port: 80, weight: 1 }],
          }),
          route({ backends: [{ service: KEY('plain'), port: 80, weight: 1 }] }),
        ],
      },
      [endpoints('v1', [v1]), endpoints('v2', [v2]), endpoints('plain', [plain.port])],
    );
    const session = h2connect(`http://127.0.0.1:${w.port}`);
    t.after(() => session.destroy());
    const call = (method: string) =>
      new Promise<string>((resolve, reject) => {
        const st = session.request({
          ':method': 'POST',
          ':path': `/shop.Catalog/${method}`,
          ':authority': HOST('catalog'),
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        let version = '';
        st.on('response', (h) => {
          version = String(h['x-version'] ?? '');
        });
        st.on('trailers', (tr) => {
          if (tr['grpc-status'] !== '0') reject(new Error(`grpc-status ${tr['grpc-status']}`));
        });
        st.on('end', () => resolve(version));
        st.on('error', reject);
        st.resume();
        st.end(Buffer.from([0, 0, 0, 0, 0]));
      });
    assert.equal(await call('Get'), 'v2');
    assert.equal(await call('List'), 'v1');
    const r = await w.get('/shop.Catalog/Get');
    assert.equal(r.body, 'plain', 'an HTTP/1.1 request is no gRPC call');
  });
});

describe('waypoint CORS filter (real sockets)', () => {
  it('answers preflights itself and marks allowed cross-origin responses', async (t) => {
    const seen: string[] = [];
    const up = await upstream(t, (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(200, { vary: 'Accept-Encoding', 'x-total': '3' });
      res.end('ok');
    });
    const cors = {
      allowOrigins: ['https://*.shop.example'],
      allowMethods: ['GET', 'PUT'],
      allowHeaders: ['X-Token'],
      exposeHeaders: ['X-Total'],
      allowCredentials: true,
      maxAgeSeconds: 600,
    };
    const w = await waypoint(
      t,
      {
        routes: [
          route({
            match: { path: '/api' },
            filters: [{ kind: { case: 'cors', value: cors } }],
            backends: [{ service: KEY('catalog'), port: 80, weight: 1 }],
          }),
          route({ backends: [{ service: KEY('catalog'), port: 80, weight: 1 }] }),
        ],
      },
      [endpoints('catalog', [up.port])],
    );
    const origin = 'https://www.shop.example';
    const pre = await call(w.port, 'OPTIONS', '/api/items', {
      origin,
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'x-token',
    });
    assert.equal(pre.status, 200);
    assert.equal(pre.headers['access-control-allow-origin'], origin);
    assert.equal(pre.headers['access-control-allow-methods'], 'GET, PUT');
    assert.equal(pre.headers['access-control-allow-headers'], 'x-token');
    assert.equal(pre.headers['access-control-allow-credentials'], 'true');
    assert.equal(pre.headers['access-control-max-age'], '600');
    // A preflight from an origin not allowed: answered, without CORS fields.
    const bad = await call(w.port, 'OPTIONS', '/api/items', {
      origin: 'https://evil.example',
      'access-control-request-method': 'PUT',
    });
    assert.equal(bad.status, 200);
    assert.equal(bad.headers['access-control-allow-origin'], undefined);
    assert.deepEqual(seen, [], 'a preflight reached the app');

    const actual = await call(w.port, 'PUT', '/api/items', { origin });
    assert.equal(actual.status, 200);
    assert.equal(actual.body, 'ok');
    assert.equal(actual.headers['access-control-allow-origin'], origin);
    assert.equal(actual.headers['access-control-expose-headers'], 'X-Total');
    assert.equal(actual.headers['access-control-allow-credentials'], 'true');
    assert.equal(actual.headers.vary, 'Accept-Encoding,Origin');
    const other = await call(w.port, 'GET', '/api/items', { origin: 'https://evil.example' });
    assert.equal(other.status, 200);
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    assert.equal(other.headers.vary, 'Accept-Encoding');
    // A rule without the filter: an OPTIONS goes to the app, no CORS fields.
    const plain = await call(w.port, 'OPTIONS', '/other', {
      origin,
      'access-control-request-method': 'PUT',
    });
    assert.equal(plain.headers['access-control-allow-origin'], undefined);
    assert.deepEqual(seen, ['PUT /api/items', 'GET /api/items', 'OPTIONS /other']);
  });
});

describe('waypoint HTTP/1.1 wire behaviour (real sockets)', () => {
  it('pipelined requests are answered in order on one connection', async (t) => {
    const up = await upstream(t, (req, res) => {
      req.resume();
      // The first answer is the slowest: order must still hold.
      setTimeout(() => res.end(`seen ${req.url}`), req.url === '/a' ? 100 : 0);
    });
    const w = await waypoint(t, {}, [endpoints('catalog', [up.port])]);
    const out = await exchange(
      t,
      w.port,
      'GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\nGET /c HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
      false,
    );
    assert.deepEqual(out.match(/seen \/\w/g), ['seen /a', 'seen /b', 'seen /c']);
    assert.equal(out.match(/HTTP\/1\.1 200/g)?.length, 3);
  });

  it('chunked request bodies arrive intact; HEAD and 204 carry no body', async (t) => {
    const up = await upstream(t, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/empty') {
          res.writeHead(204);
          res.end();
          return;
        }
        const body = Buffer.concat(chunks).toString();
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length + 5 });
        res.end(req.method === 'HEAD' ? undefined : `echo:${body}`);
      });
    });
    const w = await waypoint(t, {}, [endpoints('catalog', [up.port])]);
    const out = await exchange(
      t,
      w.port,
      'POST /p HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n' +
        'HEAD /h HTTP/1.1\r\nhost: x\r\n\r\n' +
        'GET /empty HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    const parts = out.split(/(?=HTTP\/1\.1 )/);
    assert.equal(parts.length, 3, JSON.stringify(out));
    const [post, head, empty] = parts as [string, string, string];
    assert.ok(
      post.includes('\r\ncontent-length: 12\r\n') && post.endsWith('\r\n\r\necho:abcdefg'),
      post,
    );
    assert.ok(head.startsWith('HTTP/1.1 200 ') && head.includes('\r\ncontent-length: 5\r\n'), head);
    assert.ok(head.endsWith('\r\n\r\n'), 'HEAD response without a body');
    assert.ok(empty.startsWith('HTTP/1.1 204 ') && empty.endsWith('\r\n\r\n'), empty);
  });

  it('an HTTP/1.0 client gets its answer and the connection closes', async (t) => {
    const up = await upstream(t, reply('hello'));
    const w = await waypoint(t, {}, [endpoints('catalog', [up.port])]);
    const out = await exchange(t, w.port, 'GET / HTTP/1.0\r\nhost: x\r\n\r\n', false);
    assert.match(out, /^HTTP\/1\.1 200 /);
    assert.ok(out.includes('\r\nconnection: close\r\n'), out);
    assert.ok(out.endsWith('\r\n\r\nhello'), out);
  });

  it('the app gets end-to-end fields only, with host, trace context and a request id', async (t) => {
    const TRACE = '0af7651916cd43dd8448eb211c80319c';
    const sent =
      'POST /p?q=1 HTTP/1.1\r\nHost: catalog.shop.svc.cluster.local\r\nConnection: keep-alive, x-hop\r\n' +
      'Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\n' +
      // Named by Connection: this hop's only (RFC 9110 §7.6.1).
      'X-Hop: secret\r\n' +
      `traceparent: 00-${TRACE}-b7ad6b7169203331-01\r\nX-Request-Id: rid-1\r\n` +
      'x-multi: a\r\nx-multi: b\r\nContent-Length: 3\r\n\r\nabc' +
      'GET / HTTP/1.1\r\nhost: catalog.shop.svc.cluster.local\r\n\r\n';
    // No route: the fields go up as lines from the parsed head. A route with
    // a header filter: through the fields object. Both must agree.
    for (const routes of [
      [],
      [
        route({
          filters: [
            { kind: { case: 'requestHeaderModifier', value: { set: { 'x-filtered': 'yes' } } } },
          ],
          backends: [{ service: KEY('catalog'), port: 80, weight: 1 }],
        }),
      ],
    ]) {
      const seen: string[][] = [];
      const up = await upstream(t, (req, res) => {
        seen.push(req.rawHeaders);
        reply('ok')(req, res);
      });
      const w = await waypoint(t, { routes }, [endpoints('catalog', [up.port])]);
      const out = await exchange(t, w.port, sent);
      assert.equal(out.match(/HTTP\/1\.1 200 /g)?.length, 2, out);
      const [first, second] = seen.map((raw) => {
        const fields: [string, string][] = [];
        for (let i = 0; i < raw.length; i += 2)
          fields.push([(raw[i] as string).toLowerCase(), raw[i + 1] as string]);
        return fields;
      });
      const names = new Set((first ?? []).map(([n]) => n).filter((n) => n !== 'x-filtered'));
      assert.deepEqual(
        [...names].sort(),
        ['content-length', 'host', 'traceparent', 'x-multi', 'x-request-id'],
        'hop-by-hop fields are not forwarded',
      );
      const get = (f: [string, string][] | undefined, n: string) =>
        (f ?? []).filter(([k]) => k === n).map(([, v]) => v);
      assert.deepEqual(get(first, 'host'), ['catalog.shop.svc.cluster.local']);
      assert.deepEqual(get(first, 'content-length'), ['3']);
      assert.deepEqual(get(first, 'x-request-id'), ['rid-1']);
      // As repeated lines or one joined line: the same field to the app.
      assert.equal(get(first, 'x-multi').join(', '), 'a, b');
      const [tp] = get(first, 'traceparent');
      assert.match(tp ?? '', new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
      assert.notEqual(tp, `00-${TRACE}-b7ad6b7169203331-01`, 'this hop is a new parent');
      assert.equal(get(second, 'x-request-id').length, 1, 'a request id is added');
      assert.match(get(second, 'traceparent')[0] ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.deepEqual(get(second, 'content-length'), []);
    }
  });

  it('request smuggling shapes get 400 and never reach the backend', async (t) => {
    const up = await upstream(t, reply('ok'));
    const w = await waypoint(t, {}, [endpoints('catalog', [up.port])]);
    for (const attack of [
      'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n',
      'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ncontent-length: 40\r\n\r\nabcd',
      'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      'GET / HTTP/1.1\r\nhost : x\r\n\r\n',
    ]) {
      const out = await exchange(t, w.port, attack);
      assert.match(out, /^HTTP\/1\.1 400 /, attack);
      assert.doesNotMatch(out, /HTTP\/1\.1 200/, attack);
    }
    assert.equal(up.hits(), 0);
  });

  it('Expect: 100-continue gets 100 Continue before the body is sent', async (t) => {
    let expect: string | undefined = 'unset';
    const up = await upstream(t, (req, res) => {
      expect = req.headers.expect;
      reply('done')(req, res);
    });
    const w = await waypoint(t, {}, [endpoints('catalog', [up.port])]);
    const s = connect(w.port, '127.0.0.1');
    t.after(() => s.destroy());
    s.write('POST / HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\n');
    s.setEncoding('latin1');
    const [first] = (await once(s, 'data')) as [string];
    assert.equal(first, 'HTTP/1.1 100 Continue\r\n\r\n');
    s.write('abc');
    let out = '';
    s.on('data', (c: string) => {
      out += c;
      // The backend answers chunked; the last chunk ends the exchange.
      if (out.endsWith('\r\n0\r\n\r\n')) s.end();
    });
    await once(s, 'close');
    assert.match(out, /^HTTP\/1\.1 200 [\s\S]*\r\n4\r\ndone\r\n0\r\n\r\n$/);
    assert.equal(expect, undefined, 'the app does not see Expect');
  });

  it('a response body that arrives in pieces, the first with the head, is relayed whole', async (t) => {
    const up = await upstream(t, (req, res) => {
      req.resume();
      // The head and the first piece leave together; the rest comes later.
      res.writeHead(200, { 'content-length': 10 });
      res.write('hello');
      setTimeout(() => res.end('world'), 30);
    });
    const w = await waypoint(t, {}, [endpoints('catalog', [up.port])]);
    for (let i = 0; i < 3; i++) {
      const r = await w.get('/');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'helloworld');
    }
  });

  it("the client gets the app's end-to-end response fields, framed by the waypoint", async (t) => {
    // What the app sends per path: hop-by-hop fields (one named by
    // Connection), repeats, a length
    // repeated as a list, a chunked body with a trailer.
    const answers: Record<string, string> = {
      '/len':
        'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Drop\r\nKeep-Alive: timeout=5\r\nX-App: 1\r\n' +
        'X-Drop: 1\r\n' +
        'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5, 5\r\n\r\nhello',
      '/chunked':
        'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\nX-App: 2\r\n\r\n' +
        '3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n',
    };
    const raw = createTcpServer((sock) => {
      let buf = '';
      sock.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        let end = buf.indexOf('\r\n\r\n');
        while (end >= 0) {
          const path = buf.split(' ')[1] ?? '';
          buf = buf.slice(end + 4);
          sock.write(answers[path] ?? 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
          end = buf.indexOf('\r\n\r\n');
        }
      });
    });
    const port = await listen(t, raw);
    // No filter: the fields go down as lines. A response filter: through
    // the fields object. Both must agree.
    for (const routes of [
      [],
      [
        route({
          filters: [
            { kind: { case: 'responseHeaderModifier', value: { set: { 'x-filtered': 'yes' } } } },
          ],
          backends: [{ service: KEY('catalog'), port: 80, weight: 1 }],
        }),
      ],
    ]) {
      const w = await waypoint(t, { routes }, [endpoints('catalog', [port])]);
      const out = await exchange(
        t,
        w.port,
        'GET /len HTTP/1.1\r\nhost: x\r\n\r\nGET /chunked HTTP/1.1\r\nhost: x\r\n\r\n',
      );
      const [first = '', second = ''] = out.split(/(?=HTTP\/1\.1 )/);
      const fields = (msg: string) =>
        msg
          .slice(0, msg.indexOf('\r\n\r\n'))
          .split('\r\n')
          .slice(1)
          .map((l) => l.toLowerCase())
          // The client half-closed after its requests: the last answer says close.
          .filter((l) => !l.startsWith('x-filtered') && l !== 'connection: close');
      assert.match(first, /^HTTP\/1\.1 200 OK\r\n/);
      assert.deepEqual(fields(first).sort(), [
        'content-length: 5',
        'set-cookie: a=1',
        'set-cookie: b=2',
        'x-app: 1',
      ]);
      assert.ok(first.endsWith('\r\n\r\nhello'), first);
      assert.match(second, /^HTTP\/1\.1 201 Created\r\n/);
      // Re-chunked by the waypoint; the trailer is not forwarded.
      assert.deepEqual(fields(second).sort(), ['transfer-encoding: chunked', 'x-app: 2']);
      assert.ok(second.endsWith('\r\n\r\n3\r\nabc\r\n0\r\n\r\n'), second);
    }
  });

  it('backend answers: close-delimited relayed; malformed → 502 UPE', async (t) => {
    const raw = createTcpServer((sock) => {
      sock.once('data', (d: Buffer) => {
        if (d.toString().startsWith('GET /bad'))
          sock.end('HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n');
        else sock.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil-close');
      });
    });
    const port = await listen(t, raw);
    const w = await waypoint(t, {}, [endpoints('catalog', [port])]);
    let r = await w.get('/close');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'until-close');
    r = await w.get('/bad');
    assert.equal(r.status, 502);
    assert.equal(r.body, 'upstream protocol error');
    const m = await w.registry.getSingleMetricAsString('istio_requests_total');
    assert.match(
      m,
      /response_code="502"[^}]*response_flags="UPE"|response_flags="UPE"[^}]*response_code="502"/,
    );
  });

  it('WebSocket: the 101 goes to the client, then bytes flow both ways until both sides end', async (t) => {
    const KEY_ = 'dGhlIHNhbXBsZSBub25jZQ==';
    const seen: import('node:http').IncomingHttpHeaders[] = [];
    const app = createServer((_req, res) => res.end('plain'));
    app.on('upgrade', (req, sock: Socket, head: Buffer) => {
      seen.push(req.headers);
      if (req.url === '/deny') {
        sock.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 6\r\n\r\ndenied');
        return;
      }
      // RFC 6455's example key and accept; the app's first message rides with its 101.
      sock.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-App: 1\r\n\r\nhello',
      );
      if (head.length > 0) sock.write(head.toString().toUpperCase());
      sock.on('data', (d: Buffer) => sock.write(d.toString().toUpperCase()));
      sock.on('end', () => sock.end('bye'));
    });
    const port = await listen(t, app);
    const w = await waypoint(t, {}, [endpoints('catalog', [port])]);
    const s = connect(w.port, '127.0.0.1');
    t.after(() => s.destroy());
    s.setEncoding('latin1');
    let got = '';
    s.on('data', (c: string) => {
      got += c;
    });
    const until = async (what: string) => {
      for (let i = 0; i < 200 && !got.includes(what); i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.ok(
        got.includes(what),
        `waited for ${JSON.stringify(what)}, got ${JSON.stringify(got)}`,
      );
    };
    // The client's first frame rides with its request, as browsers never do but may.
    s.write(
      'GET /chat HTTP/1.1\r\nHost: catalog.shop.svc.cluster.local\r\nConnection: keep-alive, Upgrade\r\n' +
        `Upgrade: websocket\r\nSec-WebSocket-Key: ${KEY_}\r\nSec-WebSocket-Version: 13\r\n\r\nearly`,
    );
    await until('hello');
    const head = got.slice(0, got.indexOf('\r\n\r\n')).toLowerCase().split('\r\n');
    assert.equal(head[0], 'http/1.1 101 switching protocols');
    assert.ok(head.includes('upgrade: websocket'), head.join('|'));
    assert.ok(head.includes('connection: upgrade'), head.join('|'));
    assert.ok(head.includes('sec-websocket-accept: s3ppLMBiTxaQ9kYGzzhZRbK+xOo='.toLowerCase()));
    assert.ok(head.includes('x-app: 1'));
    assert.ok(
      !head.some((l) => l.startsWith('content-length') || l.startsWith('transfer-encoding')),
    );
    // The app saw a WebSocket handshake, with the client's key.
    assert.equal(seen[0]?.upgrade, 'websocket');
    assert.match(seen[0]?.connection ?? '', /upgrade/i);
    assert.equal(seen[0]?.['sec-websocket-key'], KEY_);
    await until('EARLY');
    s.write('ping');
    await until('PING');
    // Half-close: the client's end reaches the app, whose last bytes still arrive.
    s.end();
    await once(s, 'close');
    assert.ok(got.endsWith('bye'), JSON.stringify(got));
    const m = await w.registry.getSingleMetricAsString('istio_requests_total');
    assert.match(m, /response_code="101"/);
    const sent = await w.registry.getSingleMetricAsString('istio_request_bytes');
    assert.match(sent, /istio_request_bytes_sum\{[^}]*response_code="101"[^}]*\} 9\b/);

    // An app refusing the upgrade answers as usual, and the client's
    // connection stays HTTP/1.1 for its next request.
    const out = await exchange(
      t,
      w.port,
      'GET /deny HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n' +
        'GET /next HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    assert.match(out, /^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*denied/);
    assert.match(out, /HTTP\/1\.1 200 OK[\s\S]*plain$/);
  });

  it('WebSocket relay: a client that stops reading holds the app back; an idle relay is closed', async (t) => {
    let appWrote = 0;
    let appBlocked = false;
    const app = createServer();
    app.on('upgrade', (_req, sock: Socket) => {
      sock.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      );
      sock.on('error', () => {});
      if (_req.url === '/idle') return;
      // Flood until the socket pushes back, then wait for a drain that must not come.
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = () => {
        while (appWrote < 256 * 1024 * 1024) {
          appWrote += chunk.length;
          if (!sock.write(chunk)) {
            appBlocked = true;
            sock.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    const port = await listen(t, app);
    const w = await waypoint(t, {}, [endpoints('catalog', [port])], { idleTimeoutMs: 300 });
    const s = connect(w.port, '127.0.0.1');
    t.after(() => s.destroy());
    s.write('GET /flood HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await once(s, 'data');
    s.pause();
    for (let i = 0; i < 100 && !appBlocked; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(appBlocked, 'the app never felt backpressure');
    // Socket buffers and stream high-water marks on both sides, not the flood.
    assert.ok(appWrote < 32 * 1024 * 1024, `${appWrote} bytes left the app with nobody reading`);
    s.destroy();

    // No bytes either way for the idle timeout: both sides are closed.
    const idle = connect(w.port, '127.0.0.1');
    t.after(() => idle.destroy());
    idle.on('error', () => {});
    idle.write(
      'GET /idle HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    const started = Date.now();
    idle.resume();
    await once(idle, 'close');
    assert.ok(Date.now() - started < 5000, 'the idle relay was never closed');
  });

  it('upgrades other than WebSocket are dropped; a 101 nobody asked for is 502', async (t) => {
    const seen: (string | undefined)[] = [];
    const app = createServer((req, res) => {
      seen.push(req.headers.upgrade);
      if (req.url === '/switch') {
        // A broken app: switching protocols on a plain request.
        req.socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
        );
        req.socket.destroy();
        return;
      }
      res.end('plain');
    });
    app.on('upgrade', (req, sock: Socket) => {
      seen.push(`upgrade event: ${req.headers.upgrade}`);
      sock.destroy();
    });
    const port = await listen(t, app);
    const w = await waypoint(t, {}, [endpoints('catalog', [port])]);
    const out = await exchange(
      t,
      w.port,
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
    );
    assert.match(out, /^HTTP\/1\.1 200 OK[\s\S]*plain$/);
    assert.deepEqual(seen, [undefined]);
    const r = await w.get('/switch');
    assert.equal(r.status, 502);
  });
});
