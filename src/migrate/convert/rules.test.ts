import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VsHttpRoute } from '../shapes.js';
import { convertRule, type Resolve } from './rules.js';

const resolve: Resolve = (d) => ({
  namespace: d.host === 'other' ? 'elsewhere' : 'ns',
  name: d.subset ? `${d.host}-${d.subset}` : d.host,
  port: 9080,
});
const dest = [{ destination: { host: 'svc' } }];

// [feature, VirtualService rule, expected finding ids, expected Gateway API rule (subset)]
const cases: [string, VsHttpRoute, string[], unknown][] = [
  [
    'subset + weights',
    {
      route: [
        { destination: { host: 'svc', subset: 'v1' }, weight: 90 },
        { destination: { host: 'svc', subset: 'v2' }, weight: 10 },
      ],
    },
    ['vs.route.subset', 'vs.route.subset', 'vs.route.weights'],
    {
      backendRefs: [
        { name: 'svc-v1', port: 9080, weight: 90 },
        { name: 'svc-v2', port: 9080, weight: 10 },
      ],
    },
  ],
  [
    'header prefix → regex',
    { match: [{ headers: { 'User-Agent': { prefix: 'Mozilla/5.0 (' } } }], route: dest },
    ['vs.match.headers'],
    {
      matches: [
        {
          headers: [
            { type: 'RegularExpression', name: 'user-agent', value: 'Mozilla/5\\.0 \\(.*' },
          ],
        },
      ],
    },
  ],
  [
    'uri prefix is approximate',
    { match: [{ uri: { prefix: '/api' } }], route: dest },
    ['vs.match.uri.prefix'],
    { matches: [{ path: { type: 'PathPrefix', value: '/api' } }] },
  ],
  [
    'timeout and retries',
    {
      route: dest,
      timeout: '1.5s',
      retries: { attempts: 3, perTryTimeout: '500ms', retryOn: 'gateway-error,503,reset' },
    },
    ['vs.timeout', 'vs.retries', 'vs.retries.retryOn'],
    {
      timeouts: { request: '1500ms', backendRequest: '500ms' },
      retry: { attempts: 3, codes: [502, 503, 504] },
    },
  ],
  [
    'redirect keeps Istio default 301',
    { match: [{ uri: { exact: '/a' } }], redirect: { uri: '/b' } },
    ['vs.match.uri.exact', 'vs.redirect'],
    {
      filters: [
        {
          type: 'RequestRedirect',
          requestRedirect: {
            path: { type: 'ReplaceFullPath', replaceFullPath: '/b' },
            statusCode: 301,
          },
        },
      ],
    },
  ],
  [
    'prefix rewrite',
    {
      match: [{ uri: { prefix: '/v1/' } }],
      rewrite: { uri: '/', authority: 'backend' },
      route: dest,
    },
    ['vs.match.uri.prefix', 'vs.rewrite.authority', 'vs.rewrite.uri'],
    {
      filters: [
        {
          type: 'URLRewrite',
          urlRewrite: {
            hostname: 'backend',
            path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' },
          },
        },
      ],
    },
  ],
  [
    'mirror at 100%',
    { route: dest, mirror: { host: 'svc', subset: 'v2' } },
    ['vs.mirror'],
    {
      filters: [
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'svc-v2', port: 9080 } } },
      ],
    },
  ],
  [
    'mirror percentage is dropped',
    { route: dest, mirror: { host: 'svc' }, mirrorPercentage: { value: 10 } },
    ['vs.mirror.percentage'],
    {},
  ],
  [
    'header manipulation',
    {
      route: dest,
      headers: { request: { set: { a: '1' }, remove: ['b'] }, response: { add: { c: '2' } } },
    },
    ['vs.headers'],
    {
      filters: [
        {
          type: 'RequestHeaderModifier',
          requestHeaderModifier: { set: [{ name: 'a', value: '1' }], remove: ['b'] },
        },
        {
          type: 'ResponseHeaderModifier',
          responseHeaderModifier: { add: [{ name: 'c', value: '2' }] },
        },
      ],
    },
  ],
  [
    'fault injection',
    { route: dest, fault: { abort: { httpStatus: 503, percentage: { value: 10 } } } },
    ['vs.fault'],
    {},
  ],
  [
    'CORS',
    {
      route: dest,
      corsPolicy: {
        allowOrigins: [{ exact: 'https://a' }, { prefix: 'https://b' }],
        allowMethods: ['GET', 'POST'],
        exposeHeaders: ['x-total'],
        maxAge: '24h',
        allowCredentials: true,
      },
    },
    ['vs.cors.origin', 'vs.cors'],
    {
      filters: [
        {
          type: 'CORS',
          cors: {
            allowOrigins: ['https://a'],
            allowMethods: ['GET', 'POST'],
            exposeHeaders: ['x-total'],
            allowCredentials: true,
            maxAge: 86400,
          },
        },
      ],
    },
  ],
  [
    'CORS for any origin',
    { route: dest, corsPolicy: { allowOrigins: [{ regex: '.*' }] } },
    ['vs.cors'],
    { filters: [{ type: 'CORS', cors: { allowOrigins: ['*'] } }] },
  ],
  [
    'regex rewrite',
    { route: dest, rewrite: { uriRegexRewrite: { match: '^/a/(.*)', rewrite: '/\\1' } } },
    ['vs.rewrite.regex'],
    {},
  ],
  [
    'unsupported matches',
    {
      match: [
        {
          withoutHeaders: { x: {} },
          sourceLabels: { app: 'a' },
          port: 80,
          method: { regex: 'GET|HEAD' },
        },
      ],
      route: dest,
    },
    ['vs.match.method.pattern', 'vs.match.withoutHeaders', 'vs.match.port', 'vs.match.source'],
    {},
  ],
  [
    'cross-namespace backend',
    { route: [{ destination: { host: 'other' } }] },
    ['vs.route.crossNamespace'],
    { backendRefs: [{ name: 'other', namespace: 'elsewhere', port: 9080 }] },
  ],
  [
    'gateway-only rule is skipped',
    { match: [{ gateways: ['ingress'], uri: { prefix: '/' } }], route: dest },
    ['vs.gateways'],
    undefined,
  ],
];

test('VirtualService http rule → HTTPRoute rule, feature by feature', () => {
  for (const [name, rule, ids, want] of cases) {
    const r = convertRule(rule, 'http[0]', 'ns', resolve, undefined);
    assert.deepEqual(r.notes.map((n) => n.id).sort(), [...ids].sort(), name);
    if (want === undefined) {
      assert.equal(r.rule, undefined, name);
      continue;
    }
    for (const [k, v] of Object.entries(want as Record<string, unknown>)) {
      assert.deepEqual((r.rule as Record<string, unknown>)[k], v, `${name}: ${k}`);
    }
  }
});
