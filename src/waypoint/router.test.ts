import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import {
  Route_Kind,
  RouteMatch_PathType,
  RouteSchema,
  WaypointServiceSchema,
} from '../gen/ambit/waypoint_pb.js';
import { compileService } from './config.js';
import { matchRoute, pickBackend, prefixMatches, type RouteRequest } from './router.js';

type M = {
  path?: [RouteMatch_PathType, string];
  method?: string;
  headers?: [string, string, boolean?][];
  query?: [string, string][];
};

function svc(routes: [string, M][]) {
  return compileService(
    create(WaypointServiceSchema, {
      name: 'echo',
      namespace: 'default',
      hostname: 'echo.default.svc.cluster.local',
      routes: routes.map(([name, m], i) =>
        create(RouteSchema, {
          route: `default/${name}`,
          ruleIndex: i,
          match: {
            pathType: m.path?.[0] ?? RouteMatch_PathType.PATH_PREFIX,
            path: m.path?.[1] ?? '/',
            method: m.method ?? '',
            headers: (m.headers ?? []).map(([n, v, regex]) => ({
              name: n,
              value: v,
              regex: regex ?? false,
            })),
            queryParams: (m.query ?? []).map(([n, v]) => ({ name: n, value: v })),
          },
          backends: [{ service: `default/${name}`, port: 80, weight: 1 }],
        }),
      ),
    }),
  );
}

function req(
  path: string,
  extra: Partial<{ method: string; headers: Record<string, string>; query: string }> = {},
): RouteRequest {
  const h = extra.headers ?? {};
  return {
    method: extra.method ?? 'GET',
    path,
    query: new URLSearchParams(extra.query ?? ''),
    header: (n) => h[n],
    port: 80,
  };
}

const { EXACT, PATH_PREFIX, REGULAR_EXPRESSION } = RouteMatch_PathType;

describe('waypoint router', () => {
  it('GRPCRoute rules match gRPC requests only, first and in pushed order', () => {
    const s = compileService(
      create(WaypointServiceSchema, {
        name: 'echo',
        namespace: 'default',
        hostname: 'echo.default.svc.cluster.local',
        routes: [
          // An HTTPRoute rule ranked higher by HTTP precedence (Exact)…
          create(RouteSchema, {
            route: 'default/http',
            match: { pathType: EXACT, path: '/pkg.Echo/Say' },
            backends: [{ service: 'default/http', port: 80, weight: 1 }],
          }),
          // …and two GRPCRoute rules, pushed in GRPCRoute order (service+method, then service).
          create(RouteSchema, {
            route: 'default/grpc',
            kind: Route_Kind.GRPC_ROUTE,
            match: { pathType: EXACT, path: '/pkg.Echo/Say' },
            backends: [{ service: 'default/say', port: 80, weight: 1 }],
          }),
          create(RouteSchema, {
            route: 'default/grpc',
            ruleIndex: 1,
            kind: Route_Kind.GRPC_ROUTE,
            match: { pathType: PATH_PREFIX, path: '/pkg.Echo' },
            backends: [{ service: 'default/echo', port: 80, weight: 1 }],
          }),
        ],
      }),
    );
    const grpc = { 'content-type': 'application/grpc+proto' };
    const pick = (path: string, headers: Record<string, string> = {}) =>
      matchRoute(s, req(path, { method: 'POST', headers }))?.id;
    assert.equal(pick('/pkg.Echo/Say', grpc), 'GRPCRoute/default/grpc#0');
    assert.equal(pick('/pkg.Echo/Other', grpc), 'GRPCRoute/default/grpc#1');
    assert.equal(pick('/pkg.Echo/Say'), 'default/http#0', 'not gRPC: the HTTPRoute rule');
    assert.equal(pick('/pkg.Echo/Other'), undefined);
  });

  it('prefix matching is segment-wise', () => {
    const table: [string, string, boolean][] = [
      ['/foo', '/foo', true],
      ['/foo', '/foo/', true],
      ['/foo', '/foo/bar', true],
      ['/foo', '/foobar', false],
      ['', '/anything', true],
      ['/foo/bar', '/foo', false],
    ];
    for (const [prefix, path, want] of table)
      assert.equal(prefixMatches(prefix, path), want, `${prefix} vs ${path}`);
  });

  it('applies Gateway API precedence regardless of input order', () => {
    const s = svc([
      ['catchall', {}],
      ['prefix-short', { path: [PATH_PREFIX, '/api'] }],
      ['prefix-long', { path: [PATH_PREFIX, '/api/v1/'] }],
      ['exact', { path: [EXACT, '/api/v1/users'] }],
      ['regex', { path: [REGULAR_EXPRESSION, '/api/v[0-9]+/items'] }],
      ['method', { path: [PATH_PREFIX, '/api'], method: 'POST' }],
      ['one-header', { path: [PATH_PREFIX, '/api'], headers: [['x-a', '1']] }],
      [
        'two-headers',
        {
          path: [PATH_PREFIX, '/api'],
          headers: [
            ['x-a', '1'],
            ['x-b', '2'],
          ],
        },
      ],
      ['query', { path: [PATH_PREFIX, '/api'], headers: [['x-a', '1']], query: [['q', 'x']] }],
    ]);
    const table: [RouteRequest, string | undefined][] = [
      [req('/other'), 'catchall'],
      [req('/api'), 'prefix-short'],
      [req('/apix'), 'catchall'],
      [req('/api/v1/users'), 'exact'],
      [req('/api/v1/users/1'), 'prefix-long'],
      [req('/api/v2/items'), 'regex'],
      [req('/api/v2/items/x'), 'prefix-short'],
      [req('/api/x', { method: 'POST', headers: { 'x-a': '1', 'x-b': '2' } }), 'method'],
      [req('/api/x', { headers: { 'x-a': '1', 'x-b': '2' } }), 'two-headers'],
      [req('/api/x', { headers: { 'x-a': '1' }, query: 'q=x' }), 'query'],
      [req('/api/x', { headers: { 'x-a': '1' } }), 'one-header'],
      [req('/api/x', { headers: { 'x-a': '2' } }), 'prefix-short'],
    ];
    for (const [r, want] of table)
      assert.equal(matchRoute(s, r)?.route, want && `default/${want}`, r.path);
  });

  it('ties keep pushed order (oldest route, then name, then rule)', () => {
    const s = svc([
      ['older', { path: [PATH_PREFIX, '/x'] }],
      ['newer', { path: [PATH_PREFIX, '/x'] }],
    ]);
    assert.equal(matchRoute(s, req('/x/1'))?.route, 'default/older');
  });

  it('header regex is a full match and names are case-insensitive', () => {
    const s = svc([['r', { headers: [['X-Version', 'v[12]', true]] }]]);
    assert.equal(matchRoute(s, req('/', { headers: { 'x-version': 'v2' } }))?.route, 'default/r');
    assert.equal(matchRoute(s, req('/', { headers: { 'x-version': 'v22' } })), undefined);
  });

  it('respects route ports', () => {
    const s = compileService(
      create(WaypointServiceSchema, {
        namespace: 'd',
        hostname: 'h',
        routes: [
          {
            route: 'd/r',
            ports: [8080],
            match: { path: '/' },
            backends: [{ service: 'd/h', port: 1, weight: 1 }],
          },
        ],
      }),
    );
    assert.equal(matchRoute(s, req('/')), undefined);
    assert.equal(matchRoute(s, { ...req('/'), port: 8080 })?.route, 'd/r');
  });

  it('weighted pick: weight 0 never chosen, invalid backend yields an error', () => {
    const s = compileService(
      create(WaypointServiceSchema, {
        namespace: 'd',
        hostname: 'h',
        routes: [
          {
            route: 'd/r',
            match: { path: '/' },
            backends: [
              { service: 'd/v1', port: 80, weight: 90 },
              { service: 'd/zero', port: 80, weight: 0 },
              { service: 'd/v2', port: 80, weight: 10, invalidReason: 'Service d/v2 not found' },
            ],
          },
          {
            route: 'd/none',
            match: { path: '/none', pathType: EXACT },
            backends: [{ service: 'd/x', port: 80, weight: 0 }],
          },
        ],
      }),
    );
    const route = matchRoute(s, req('/a'));
    assert.ok(route);
    const table: [number, string][] = [
      [0, 'd/v1'],
      [0.899, 'd/v1'],
      [0.9, 'error'],
      [0.999, 'error'],
    ];
    for (const [r, want] of table) {
      const c = pickBackend(route, () => r);
      assert.equal(c.kind === 'backend' ? c.backend.service : 'error', want, String(r));
    }
    const none = matchRoute(s, req('/none'));
    assert.ok(none);
    assert.equal(pickBackend(none).kind, 'error');
  });

  it('an invalid regex is reported naming the resource', () => {
    assert.throws(
      () => svc([['bad', { path: [REGULAR_EXPRESSION, '(['] }]]),
      (e: Error & { code?: string }) =>
        e.code === 'AMBIT_WAYPOINT_CONFIG_INVALID' &&
        e.message.includes('default/echo.default.svc.cluster.local'),
    );
  });
});
