import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type JsonObject, toJson } from '@bufbuild/protobuf';
import {
  loadShop,
  makePod,
  runnerPods,
  waypointService,
} from '../../../test/fixtures/manifests/load.js';
import { ServiceEndpointsSchema, WaypointServiceSchema } from '../../gen/ambit/waypoint_pb.js';
import { parseResource, type Resource } from '../../kube/index.js';
import { diff, isEmptyDiff, TYPE_URLS } from './diff.js';
import { translate } from './translate.js';

function shop(): Resource[] {
  const r = loadShop();
  return [...r, ...runnerPods(r), waypointService('shop', 'waypoint', '10.96.0.100')];
}
function res(raw: Record<string, unknown>): Resource {
  const r = parseResource(raw);
  if (!('ok' in r)) throw new Error(JSON.stringify(r));
  return r.ok;
}
const CATALOG = 'shop/catalog.shop.svc.cluster.local';

test('shop waypoint config: routes by precedence, 90/10 split, timeouts, retry, policies, limits', () => {
  const cfg = translate(shop());
  assert.deepEqual([...cfg.waypoint.services.keys()], [CATALOG]);
  const ws = toJson(
    WaypointServiceSchema,
    cfg.waypoint.services.get(CATALOG) ?? assert.fail(),
  ) as JsonObject;
  assert.equal(ws.waypoint, 'shop/waypoint');
  assert.deepEqual(ws.ports, [{ port: 80, name: 'http', appProtocol: 'http' }]);
  // The VIPs, so the waypoint can find the Service by the CONNECT authority VIP:port.
  assert.deepEqual(ws.vips, [Buffer.from([10, 96, 0, 20]).toString('base64')]);
  const limit = {
    requests: 100,
    intervalMs: '1000',
    burst: 200,
    perSourceIdentity: true,
    source: 'shop/catalog-limit',
  };
  assert.deepEqual(ws.routes, [
    {
      route: 'shop/catalog',
      ports: [80],
      match: { path: '/', headers: [{ name: 'x-canary', value: 'true' }] },
      backends: [{ service: 'shop/catalog-v2.shop.svc.cluster.local', port: 80, weight: 1 }],
      rateLimit: limit,
    },
    {
      route: 'shop/catalog',
      ruleIndex: 1,
      ports: [80],
      match: { path: '/' },
      backends: [
        { service: 'shop/catalog-v1.shop.svc.cluster.local', port: 80, weight: 90 },
        { service: 'shop/catalog-v2.shop.svc.cluster.local', port: 80, weight: 10 },
      ],
      requestTimeoutMs: '2000',
      retry: { codes: [503], attempts: 2, backoffMs: '100' },
      rateLimit: limit,
    },
  ]);
  assert.deepEqual(ws.policies, [
    {
      name: 'catalog-only-frontend',
      namespace: 'shop',
      rules: [
        {
          from: [{ principals: ['cluster.local/ns/shop/sa/frontend'] }],
          to: [{ methods: ['GET', 'HEAD'] }],
        },
      ],
    },
  ]);
  assert.deepEqual(ws.backend, {
    maxConnections: 100,
    maxRequests: 200,
    consecutive5xxErrors: 5,
    intervalMs: '10000',
    baseEjectionTimeMs: '30000',
    maxEjectionPercent: 50,
    sources: ['shop/catalog-resilience'],
  });
  // The waypoint-facing L7 policy is not sent to ztunnel.
  assert.ok(!cfg.authorizations.has('shop/catalog-only-frontend'));
  assert.deepEqual(cfg.statuses, []);
});

test('shop endpoints: every backend Service with per-endpoint target ports and identities', () => {
  const cfg = translate(shop());
  assert.deepEqual(
    [...cfg.waypoint.endpoints.keys()],
    ['shop/catalog-v1.shop.svc.cluster.local', 'shop/catalog-v2.shop.svc.cluster.local', CATALOG],
  );
  const v2 = toJson(
    ServiceEndpointsSchema,
    cfg.waypoint.endpoints.get('shop/catalog-v2.shop.svc.cluster.local') ?? assert.fail(),
  ) as JsonObject;
  assert.deepEqual(v2.endpoints, [
    {
      workloadUid: 'Kubernetes//Pod/shop/catalog-v2-5d8f7-0',
      address: 'CvQADQ==',
      ports: { 80: 9090 },
      identity: 'spiffe://cluster.local/ns/shop/sa/catalog',
      hbone: true,
      healthy: true,
      node: 'node-a',
    },
  ]);
  assert.equal(cfg.waypoint.endpoints.get(CATALOG)?.endpoints.length, 3);
});

test('route precedence across routes: exact > longest prefix > method > headers; invalid backends flagged', () => {
  const route = (name: string, rules: unknown[], created: string) =>
    res({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name, namespace: 'shop', creationTimestamp: created },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'catalog' }], rules },
    });
  const extra = [
    route(
      'b-newer',
      [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/api/v1' } }],
          backendRefs: [{ name: 'catalog-v1', port: 80 }],
        },
      ],
      '2025-01-01T00:00:00Z',
    ),
    route(
      'a-older',
      [
        {
          matches: [{ path: { type: 'Exact', value: '/health' } }],
          backendRefs: [{ name: 'catalog-v1', port: 80 }],
        },
        {
          matches: [
            { path: { type: 'PathPrefix', value: '/api' }, method: 'POST' },
            { path: { type: 'PathPrefix', value: '/api' } },
          ],
          backendRefs: [{ name: 'nope', port: 80 }, { name: 'catalog-v2' }],
        },
      ],
      '2024-01-01T00:00:00Z',
    ),
  ];
  const cfg = translate([...shop(), ...extra]);
  const routes = cfg.waypoint.services.get(CATALOG)?.routes ?? [];
  assert.deepEqual(
    routes.map((r) => `${r.route}#${r.ruleIndex} ${r.match?.method ?? ''}${r.match?.path}`),
    [
      'shop/a-older#0 /health',
      'shop/b-newer#0 /api/v1',
      'shop/a-older#1 POST/api',
      'shop/a-older#1 /api',
      'shop/catalog#0 /',
      'shop/catalog#1 /',
    ],
  );
  const bad = routes
    .find((r) => r.route === 'shop/a-older' && r.ruleIndex === 1)
    ?.backends.map((b) => b.invalidReason);
  assert.deepEqual(bad, [
    'Service shop/nope not found',
    'port is required for a Service backendRef',
  ]);
  assert.equal(cfg.statuses.filter((s) => s.reason === 'BackendNotFound').length, 2);
});

test('GRPCRoute rules: method matches as paths, GRPCRoute precedence, ahead of HTTPRoutes, policies', () => {
  const grpc = (name: string, created: string, rules: unknown[]) =>
    res({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GRPCRoute',
      metadata: { name, namespace: 'shop', creationTimestamp: created },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'catalog' }], rules },
    });
  const extra = [
    grpc('g-old', '2024-01-01T00:00:00Z', [
      {
        matches: [{ method: { method: 'Watch' } }],
        backendRefs: [{ name: 'catalog-v1', port: 80 }],
      },
      {
        matches: [
          { method: { type: 'RegularExpression', service: 'shop\\..*', method: 'List.*' } },
        ],
        backendRefs: [{ name: 'catalog-v1', port: 80 }],
      },
    ]),
    grpc('g-new', '2025-01-01T00:00:00Z', [
      {
        matches: [
          {
            method: { service: 'shop.Catalog', method: 'Get' },
            headers: [{ name: 'X-Canary', value: 'true' }],
          },
          { method: { service: 'shop.Catalog' } },
        ],
        backendRefs: [
          { name: 'catalog-v2', port: 80 },
          { name: 'nope', port: 80 },
        ],
      },
    ]),
    res({
      apiVersion: 'policy.ambit.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name: 'slow-watch', namespace: 'shop' },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'g-old' }],
        local: { requests: 5, interval: '1s' },
      },
    }),
  ];
  const cfg = translate([...shop(), ...extra]);
  const routes = cfg.waypoint.services.get(CATALOG)?.routes ?? [];
  assert.deepEqual(
    routes.map(
      (r) =>
        `${r.kind === 1 ? 'grpc' : 'http'} ${r.route}#${r.ruleIndex} ${r.match?.pathType} ${r.match?.path}`,
    ),
    [
      // Most service characters first (regex counts its pattern), then method, then headers.
      'grpc shop/g-new#0 1 /shop.Catalog/Get',
      'grpc shop/g-new#0 0 /shop.Catalog',
      'grpc shop/g-old#1 2 /(?:shop\\..*)/(?:List.*)',
      'grpc shop/g-old#0 2 /[^/]+/Watch',
      'http shop/catalog#0 0 /',
      'http shop/catalog#1 0 /',
    ],
  );
  assert.deepEqual(
    routes[0]?.match?.headers.map((h) => h.name),
    ['x-canary'],
  );
  assert.equal(routes[0]?.backends[1]?.invalidReason, 'Service shop/nope not found');
  assert.ok(cfg.statuses.some((s) => s.kind === 'GRPCRoute' && s.reason === 'BackendNotFound'));
  assert.equal(routes[3]?.rateLimit?.requests, 5, 'a policy targeting the GRPCRoute applies');
  assert.equal(routes[0]?.rateLimit, undefined);
});

test('GRPCRoute input is checked: a method match names something, regexes compile, filters fit', () => {
  const bad = (spec: unknown) =>
    parseResource({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GRPCRoute',
      metadata: { name: 'g', namespace: 'shop' },
      spec,
    });
  const err = (r: ReturnType<typeof parseResource>) => ('error' in r ? r.error.message : '');
  assert.match(
    err(bad({ rules: [{ matches: [{ method: {} }] }] })),
    /GRPCRoute shop\/g: .*one of service or method must be set/,
  );
  assert.match(
    err(bad({ rules: [{ matches: [{ method: { type: 'RegularExpression', service: '(' } }] }] })),
    /GRPCRoute shop\/g: spec\.rules\[0\]\.matches\[0\]\.method\.service: invalid regular expression/,
  );
  assert.match(
    err(bad({ rules: [{ filters: [{ type: 'URLRewrite', urlRewrite: {} }] }] })),
    /a GRPCRoute filter is one of/,
  );
  const cors = (allowOrigins: string[]) =>
    parseResource({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'h', namespace: 'shop' },
      spec: { rules: [{ filters: [{ type: 'CORS', cors: { allowOrigins } }] }] },
    });
  assert.match(
    err(cors(['ftp://x.example'])),
    /HTTPRoute shop\/h: .*allowOrigins\[0\]: an origin is/,
  );
  assert.match(err(cors(['https://a.*.example'])), /an origin is/);
  assert.match(err(cors(['*', 'https://a.example'])), /cannot contain "\*" alongside/);
  for (const ok of [['*'], ['https://*.a.example', 'http://b.example:8080', 'https://*']])
    assert.ok('ok' in cors(ok), ok.join());
  const ok = bad({ parentRefs: [{ group: '', kind: 'Service', name: 'catalog' }] });
  assert.ok('ok' in ok && ok.ok.kind === 'GRPCRoute' && ok.ok.spec.rules.length === 1);
});

test('a CORS filter travels with its rule; on a backendRef it is refused with a status', () => {
  const cors = {
    type: 'CORS',
    cors: { allowOrigins: ['https://app.example'], allowMethods: ['GET'], maxAge: 60 },
  };
  const r = res({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'web', namespace: 'shop', creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'catalog' }],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/web' } }],
          filters: [cors],
          backendRefs: [{ name: 'catalog-v1', port: 80, filters: [cors] }],
        },
      ],
    },
  });
  const cfg = translate([...shop(), r]);
  const web = (cfg.waypoint.services.get(CATALOG)?.routes ?? []).find(
    (x) => x.route === 'shop/web',
  );
  const f = web?.filters[0]?.kind;
  assert.equal(f?.case, 'cors');
  assert.deepEqual(f?.case === 'cors' && [f.value.allowOrigins, f.value.maxAgeSeconds], [
    ['https://app.example'],
    60,
  ]);
  assert.deepEqual(web?.backends[0]?.filters, []);
  assert.ok(
    cfg.statuses.some(
      (s) => s.name === 'web' && s.reason === 'UnsupportedValue' && /CORS/.test(s.message),
    ),
  );
});

test('DestinationRule is the base for resilience; BackendPolicy overrides field by field', () => {
  const dr = res({
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'catalog', namespace: 'shop' },
    spec: {
      host: 'catalog.shop.svc.cluster.local',
      trafficPolicy: {
        connectionPool: { tcp: { maxConnections: 7 }, http: { http1MaxPendingRequests: 3 } },
        loadBalancer: { simple: 'LEAST_REQUEST' },
      },
    },
  });
  const ws = translate([...shop(), dr]).waypoint.services.get(CATALOG);
  assert.equal(ws?.backend?.maxConnections, 100, 'BackendPolicy wins');
  assert.equal(ws?.backend?.maxPendingRequests, 3, 'DestinationRule fills the rest');
  assert.deepEqual(ws?.backend?.sources, ['shop/catalog', 'shop/catalog-resilience']);
});

test("a backend Service's own DestinationRule / BackendPolicy travel with its endpoints", () => {
  const dr = res({
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'catalog-v1', namespace: 'shop' },
    spec: {
      host: 'catalog-v1',
      trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3, baseEjectionTime: '5s' } },
    },
  });
  const bp = res({
    apiVersion: 'policy.ambit.dev/v1alpha1',
    kind: 'BackendPolicy',
    metadata: { name: 'v1-eject', namespace: 'shop' },
    spec: {
      targetRefs: [{ group: '', kind: 'Service', name: 'catalog-v1' }],
      outlierDetection: { maxEjectionPercent: 100 },
    },
  });
  const cfg = translate([...shop(), dr, bp]);
  const v1 = cfg.waypoint.endpoints.get('shop/catalog-v1.shop.svc.cluster.local');
  assert.deepEqual((toJson(ServiceEndpointsSchema, v1 ?? assert.fail()) as JsonObject).backend, {
    consecutive5xxErrors: 3,
    baseEjectionTimeMs: '5000',
    maxEjectionPercent: 100,
    sources: ['shop/catalog-v1', 'shop/v1-eject'],
  });
  // The bound Service's endpoints carry the same settings as its WaypointService.
  assert.deepEqual(
    cfg.waypoint.endpoints.get(CATALOG)?.backend,
    cfg.waypoint.services.get(CATALOG)?.backend,
  );
  assert.equal(
    cfg.waypoint.endpoints.get('shop/catalog-v2.shop.svc.cluster.local')?.backend,
    undefined,
  );
});

test('waypoint-for workload|all: a pod that opts in gets a workload entry (its IP, every port, itself as endpoint); service does not', () => {
  const gw = (name: string, trafficFor: string) =>
    res({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name, namespace: 'shop', labels: { 'istio.io/waypoint-for': trafficFor } },
      spec: {
        gatewayClassName: 'istio-waypoint',
        listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
      },
    });
  const pod = makePod({
    metadata: {
      name: 'target-0',
      namespace: 'shop',
      labels: { app: 'target', 'istio.io/use-waypoint': 'wl' },
    },
    spec: { serviceAccountName: 'target', nodeName: 'node-a', containers: [{ name: 'c' }] },
    status: {
      phase: 'Running',
      podIP: '10.244.0.99',
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  });
  const gwPolicy = res({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'wl-deny-delete', namespace: 'shop' },
    spec: {
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'wl' }],
      action: 'DENY',
      rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }],
    },
  });
  const base = [...shop(), pod, waypointService('shop', 'wl', '10.96.0.101'), gwPolicy];
  const KEY_POD = 'shop/10-244-0-99.shop.pod.cluster.local';
  for (const trafficFor of ['workload', 'all']) {
    const cfg = translate([...base, gw('wl', trafficFor)]);
    const ws = cfg.waypoint.services.get(KEY_POD) ?? assert.fail(`no entry for ${trafficFor}`);
    assert.deepEqual(toJson(WaypointServiceSchema, ws), {
      name: 'target-0',
      namespace: 'shop',
      hostname: '10-244-0-99.shop.pod.cluster.local',
      waypoint: 'shop/wl',
      workload: 'Kubernetes//Pod/shop/target-0',
      vips: [Buffer.from([10, 244, 0, 99]).toString('base64')],
      policies: [
        {
          name: 'wl-deny-delete',
          namespace: 'shop',
          action: 'DENY',
          rules: [{ to: [{ methods: ['DELETE'] }] }],
        },
      ],
    });
    assert.deepEqual(
      toJson(ServiceEndpointsSchema, cfg.waypoint.endpoints.get(KEY_POD) ?? assert.fail()),
      {
        name: 'target-0',
        namespace: 'shop',
        hostname: '10-244-0-99.shop.pod.cluster.local',
        endpoints: [
          {
            workloadUid: 'Kubernetes//Pod/shop/target-0',
            address: Buffer.from([10, 244, 0, 99]).toString('base64'),
            identity: 'spiffe://cluster.local/ns/shop/sa/target',
            hbone: true,
            healthy: true,
            node: 'node-a',
            allPorts: true,
          },
        ],
      },
    );
  }
  for (const trafficFor of ['service', 'none']) {
    const cfg = translate([...base, gw('wl', trafficFor)]);
    assert.equal(cfg.waypoint.services.has(KEY_POD), false, trafficFor);
    assert.equal(cfg.waypoint.endpoints.has(KEY_POD), false, trafficFor);
  }
});

test('targetRefs to missing or unbound targets get a status', () => {
  const ap = res({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'x', namespace: 'shop' },
    spec: {
      targetRefs: [
        { group: '', kind: 'Service', name: 'ratings' },
        { group: '', kind: 'Service', name: 'gone' },
      ],
    },
  });
  const msgs = translate([...shop(), ap])
    .statuses.filter((s) => s.name === 'x')
    .map((s) => s.message);
  assert.deepEqual(msgs, [
    'Service shop/ratings is not bound to a waypoint',
    'Service shop/gone was not found',
  ]);
});

test('diff: only changed names per type URL, removals listed', () => {
  const a = translate(shop());
  assert.ok(isEmptyDiff(diff(a, translate(shop()))));
  const first = diff(undefined, a);
  assert.equal(first.get(TYPE_URLS.address)?.changed.length, a.addresses.size);
  // Scale catalog-v2's pod away and change a policy.
  const next = shop().filter(
    (r) => r.metadata.name !== 'catalog-v2-5d8f7-0' && r.metadata.name !== 'ratings-only-catalog',
  );
  const d = diff(a, translate(next));
  // ratings' pod changes too: it no longer lists the removed policy.
  assert.deepEqual(d.get(TYPE_URLS.address), {
    changed: ['Kubernetes//Pod/shop/ratings-5d8f7-0'],
    removed: ['Kubernetes//Pod/shop/catalog-v2-5d8f7-0'],
  });
  assert.deepEqual(d.get(TYPE_URLS.authorization), {
    changed: [],
    removed: ['shop/ratings-only-catalog'],
  });
  assert.deepEqual(d.get(TYPE_URLS.serviceEndpoints), {
    changed: ['shop/catalog-v2.shop.svc.cluster.local', CATALOG],
    removed: [],
  });
  assert.deepEqual(d.get(TYPE_URLS.waypointService), { changed: [], removed: [] });
});
