import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HTTPRouteObject } from '../convert/gw.js';
import { convertRule, type Resolve } from '../convert/rules.js';
import type { VsHttpRoute } from '../shapes.js';
import { checkEquivalence } from './check.js';
import { evaluateHttpRoutes } from './route-eval.js';
import { fromRegex, samplesFor } from './samples.js';
import { describeOutcome, type SampleRequest } from './types.js';
import { evaluateVirtualService } from './vs-eval.js';

const resolve: Resolve = (d) => ({
  namespace: 'ns',
  name: d.subset ? `${d.host}-${d.subset}` : d.host,
});
const req = (
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  query: Record<string, string> = {},
): SampleRequest => ({ method, path, headers, query });

function route(
  name: string,
  rules: HTTPRouteObject['spec']['rules'],
  ts?: string,
): HTTPRouteObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace: 'ns', ...(ts ? { creationTimestamp: ts } : {}) },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'svc' }], rules },
  };
}

const be = (name: string) => [{ name, port: 80 }];

test('HTTPRoute precedence follows the Gateway API rules', () => {
  const r = route('r', [
    { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: be('root') },
    { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: be('api') },
    { matches: [{ path: { type: 'PathPrefix', value: '/api/v2' } }], backendRefs: be('api-v2') },
    { matches: [{ path: { type: 'Exact', value: '/api/v2/health' } }], backendRefs: be('health') },
    {
      matches: [{ path: { type: 'PathPrefix', value: '/api' }, method: 'POST' }],
      backendRefs: be('post'),
    },
    {
      matches: [
        {
          path: { type: 'PathPrefix', value: '/api' },
          headers: [{ type: 'Exact', name: 'x-a', value: '1' }],
        },
      ],
      backendRefs: be('hdr1'),
    },
    {
      matches: [
        {
          path: { type: 'PathPrefix', value: '/api' },
          headers: [
            { type: 'Exact', name: 'x-a', value: '1' },
            { type: 'RegularExpression', name: 'x-b', value: 'b.*' },
          ],
        },
      ],
      backendRefs: be('hdr2'),
    },
    {
      matches: [{ path: { type: 'RegularExpression', value: '/api/[0-9]+' } }],
      backendRefs: be('regex'),
    },
  ]);
  const cases: [SampleRequest, string][] = [
    [req('/'), 'ns/root'],
    [req('/api'), 'ns/api'],
    [req('/apix'), 'ns/root'], // PathPrefix matches path segments only
    [req('/api/x'), 'ns/api'],
    [req('/api/v2/x'), 'ns/api-v2'], // longest prefix
    [req('/api/v2/health'), 'ns/health'], // exact beats every prefix
    [req('/api/x', {}, 'POST'), 'ns/post'], // method beats headers
    [req('/api/x', { 'x-a': '1' }), 'ns/hdr1'],
    [req('/api/x', { 'x-a': '1', 'x-b': 'bee' }), 'ns/hdr2'], // more headers win
    [req('/api/123'), 'ns/api'], // regex ranks after prefixes
    [req('/api/v2/x', {}, 'POST'), 'ns/api-v2'], // longer prefix before method
  ];
  for (const [r0, want] of cases) {
    assert.equal(
      describeOutcome(evaluateHttpRoutes([r], r0, 'svc').outcome),
      want,
      JSON.stringify(r0),
    );
  }
});

test('ties between routes go to the oldest, then namespace/name; no match is 404', () => {
  const a = route('b-route', [{ backendRefs: be('b') }], '2024-01-01T00:00:00Z');
  const b = route('a-route', [{ backendRefs: be('a') }], '2024-06-01T00:00:00Z');
  assert.equal(describeOutcome(evaluateHttpRoutes([b, a], req('/'), 'svc').outcome), 'ns/b');
  const c = route('c', [{ backendRefs: be('c') }]);
  const d = route('d', [{ backendRefs: be('d') }]);
  assert.equal(describeOutcome(evaluateHttpRoutes([d, c], req('/'), 'svc').outcome), 'ns/c');
  const only = route('x', [
    { matches: [{ path: { type: 'Exact', value: '/x' } }], backendRefs: be('x') },
  ]);
  assert.equal(describeOutcome(evaluateHttpRoutes([only], req('/y'), 'svc').outcome), 'status 404');
});

test('VirtualService: first matching rule wins; weights, redirects and direct responses', () => {
  const http: VsHttpRoute[] = [
    { match: [{ uri: { prefix: '/api' } }], route: [{ destination: { host: 'api' } }] },
    { match: [{ uri: { exact: '/api/v2' } }], route: [{ destination: { host: 'v2' } }] },
    {
      match: [{ headers: { 'end-user': { exact: 'jason' } } }],
      route: [{ destination: { host: 'reviews', subset: 'v2' } }],
    },
    { match: [{ uri: { exact: '/old' } }], redirect: { uri: '/new' } },
    { match: [{ uri: { exact: '/gone' } }], directResponse: { status: 410 } },
    {
      match: [{ withoutHeaders: { 'x-internal': {} } }, { uri: { regex: '/r/[a-z]+' } }],
      route: [{ destination: { host: 'public' } }],
    },
    {
      route: [
        { destination: { host: 'reviews', subset: 'v1' }, weight: 75 },
        { destination: { host: 'reviews', subset: 'v3' }, weight: 25 },
      ],
    },
  ];
  const cases: [SampleRequest, string][] = [
    [req('/api/v2'), 'ns/api'],
    [req('/apiv2'), 'ns/api'], // Istio prefix is a string prefix
    [req('/', { 'end-user': 'jason' }), 'ns/reviews-v2'],
    [req('/old'), 'redirect 301 http://svc/new'],
    [req('/gone'), 'status 410'],
    [req('/'), 'ns/public'],
    [req('/', { 'x-internal': 'yes' }), 'ns/reviews-v1 75%, ns/reviews-v3 25%'],
    [req('/r/abc', { 'x-internal': 'yes' }), 'ns/public'],
  ];
  for (const [r0, want] of cases) {
    assert.equal(
      describeOutcome(evaluateVirtualService(http, r0, resolve, 'svc').outcome),
      want,
      JSON.stringify(r0),
    );
  }
});

function convertAll(http: VsHttpRoute[]): HTTPRouteObject {
  return route(
    'converted',
    http.flatMap((r, i) => {
      const c = convertRule(r, `http[${i}]`, 'ns', resolve, undefined);
      return c.rule === undefined ? [] : [c.rule];
    }),
  );
}

test('equivalence: bookinfo-style routing converts with every sample agreeing', () => {
  const http: VsHttpRoute[] = [
    // Exact paths first: Gateway API ranks them first regardless of order.
    { match: [{ uri: { exact: '/old' } }], redirect: { uri: '/new', authority: 'other' } },
    {
      match: [{ headers: { 'end-user': { exact: 'jason' } } }],
      route: [{ destination: { host: 'reviews', subset: 'v2' } }],
    },
    {
      route: [
        { destination: { host: 'reviews', subset: 'v1' }, weight: 50 },
        { destination: { host: 'reviews', subset: 'v3' }, weight: 50 },
      ],
    },
  ];
  const r = checkEquivalence({
    virtualService: 'ns/reviews',
    host: 'reviews',
    http,
    resolve,
    routes: [convertAll(http)],
  });
  assert.equal(r.mismatches, 0, JSON.stringify(r.rows, null, 1));
  assert.ok(r.rows.length >= 4);
  assert.ok(r.rows.some((x) => x.virtualService === 'redirect 301 http://other/new' && x.same));
  // The other order is not equivalent: jason's GET /old took the header rule first.
  const swapped = [http[1], http[0], http[2]] as VsHttpRoute[];
  const r2 = checkEquivalence({
    virtualService: 'ns/reviews',
    host: 'reviews',
    http: swapped,
    resolve,
    routes: [convertAll(swapped)],
  });
  assert.deepEqual(
    r2.rows
      .filter((x) => !x.same)
      .map((x) => `${x.request.path} ${x.virtualService} vs ${x.httpRoute}`),
    ['/old ns/reviews-v2 vs redirect 301 http://other/new'],
  );
});

test('equivalence: rule order that Gateway API precedence overrides is reported', () => {
  const http: VsHttpRoute[] = [
    {
      match: [{ uri: { prefix: '/api' } }],
      route: [{ destination: { host: 'api', subset: 'v1' } }],
    },
    {
      match: [{ uri: { exact: '/api/v2' } }],
      route: [{ destination: { host: 'api', subset: 'v2' } }],
    },
  ];
  const r = checkEquivalence({
    virtualService: 'ns/api',
    host: 'api',
    http,
    resolve,
    routes: [convertAll(http)],
  });
  const bad = r.rows
    .filter((x) => !x.same)
    .map((x) => `${x.request.path}: ${x.virtualService} vs ${x.httpRoute}`);
  assert.deepEqual(bad.sort(), [
    '/api/v2: ns/api-v1 vs ns/api-v2',
    '/apix: ns/api-v1 vs status 404',
  ]);
  assert.equal(r.mismatches, 2);
});

test('sample requests cross every request line with every condition set', () => {
  const s = samplesFor([
    { match: [{ uri: { exact: '/search' }, method: { exact: 'POST' } }] },
    {
      match: [
        { headers: { 'x-beta': { exact: 'on' } } },
        { queryParams: { q: { regex: 'a[0-9]+' } } },
      ],
    },
  ]);
  const keys = s.map(
    (r) => `${r.method} ${r.path} ${JSON.stringify(r.headers)} ${JSON.stringify(r.query)}`,
  );
  assert.ok(keys.includes('POST /search {"x-beta":"on"} {}'));
  assert.ok(keys.includes('GET / {} {"q":"a1"}'));
  assert.equal(new Set(keys).size, keys.length);
});

test('fromRegex derives a matching value or gives up', () => {
  const cases: [string, string | undefined][] = [
    ['/api/v[0-9]+/items', '/api/v1/items'],
    ['^/users/[^/]+$', '/users/x'],
    ['.*Firefox.*', 'Firefox'],
    ['(a|b)c', undefined],
  ];
  for (const [re, want] of cases) assert.equal(fromRegex(re), want, re);
});
