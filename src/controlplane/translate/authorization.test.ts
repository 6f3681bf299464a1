import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type JsonObject, toJson } from '@bufbuild/protobuf';
import { Action, AuthorizationSchema, Scope } from '../../gen/istio/security/authorization_pb.js';
import { type AuthorizationPolicy, parseResource } from '../../kube/index.js';
import { convertAuthorizationPolicy } from './authorization.js';
import { StatusSink } from './status.js';

function policy(
  spec: Record<string, unknown>,
  meta: Record<string, unknown> = {},
): AuthorizationPolicy {
  const r = parseResource({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'p', namespace: 'shop', ...meta },
    spec,
  });
  if (!('ok' in r) || r.ok.kind !== 'AuthorizationPolicy') throw new Error(JSON.stringify(r));
  return r.ok;
}

function convert(spec: Record<string, unknown>, meta: Record<string, unknown> = {}) {
  const status = new StatusSink();
  const c = convertAuthorizationPolicy(policy(spec, meta), 'istio-system', status);
  return {
    auth: c.authorization,
    json: c.authorization
      ? (toJson(AuthorizationSchema, c.authorization) as JsonObject)
      : undefined,
    status: status.items,
  };
}

test('scope: selector, namespace, root namespace (global)', () => {
  const cases: Array<[Record<string, unknown>, Record<string, unknown>, Scope]> = [
    [{ selector: { matchLabels: { app: 'a' } } }, {}, Scope.WORKLOAD_SELECTOR],
    [{}, {}, Scope.NAMESPACE],
    [{}, { namespace: 'istio-system' }, Scope.GLOBAL],
    [
      { selector: { matchLabels: { app: 'a' } } },
      { namespace: 'istio-system' },
      Scope.WORKLOAD_SELECTOR,
    ],
  ];
  for (const [spec, meta, scope] of cases)
    assert.equal(convert(spec, meta).auth?.scope, scope, JSON.stringify([spec, meta]));
});

test('actions: ALLOW/DENY go to ztunnel; AUDIT/CUSTOM are not bound (status); targetRefs are for waypoints', () => {
  assert.equal(convert({ action: 'ALLOW' }).auth?.action, Action.ALLOW);
  assert.equal(convert({ action: 'DENY' }).auth?.action, Action.DENY);
  for (const spec of [{ action: 'AUDIT' }, { action: 'CUSTOM', provider: { name: 'ext' } }]) {
    const c = convert(spec);
    assert.equal(c.auth, undefined);
    assert.match(c.status[0]?.message ?? '', /ztunnel does not support the (AUDIT|CUSTOM) action/);
  }
  const t = convert({
    targetRefs: [{ group: '', kind: 'Service', name: 's' }],
    rules: [{ to: [{ operation: { methods: ['GET'] } }] }],
  });
  assert.equal(t.auth, undefined);
  assert.deepEqual(t.status, []);
});

test('dry-run annotation', () => {
  const cases: Array<[string | undefined, boolean, number]> = [
    [undefined, false, 0],
    ['true', true, 0],
    ['True', true, 0],
    ['1', true, 0],
    ['false', false, 0],
    ['yes', false, 1],
  ];
  for (const [v, want, statuses] of cases) {
    const c = convert({}, v === undefined ? {} : { annotations: { 'istio.io/dry-run': v } });
    assert.equal(c.auth?.dryRun, want, String(v));
    assert.equal(c.status.length, statuses, String(v));
  }
});

test('from/to/when become clauses of matches (wildcards, service accounts, CIDRs, ports)', () => {
  const c = convert({
    rules: [
      {
        from: [
          {
            source: {
              principals: ['cluster.local/ns/a/sa/b', '*', '*/sa/web', 'cluster.local/ns/x/*'],
              notNamespaces: ['kube-system'],
            },
          },
          {
            source: {
              serviceAccounts: ['web', 'other/api'],
              ipBlocks: ['10.0.0.0/8', '192.168.1.1'],
              notIpBlocks: ['fd00::/64'],
            },
          },
        ],
        to: [{ operation: { ports: ['8080'], notPorts: ['9090'] } }],
        when: [
          { key: 'source.ip', values: ['10.1.0.0/16'] },
          { key: 'destination.port', notValues: ['22'] },
          { key: 'source.namespace', values: ['shop'] },
        ],
      },
    ],
  });
  assert.deepEqual(c.json, {
    name: 'p',
    namespace: 'shop',
    scope: 'NAMESPACE',
    rules: [
      {
        clauses: [
          { matches: [{ destinationPorts: [8080], notDestinationPorts: [9090] }] },
          {
            matches: [
              {
                notNamespaces: [{ exact: 'kube-system' }],
                principals: [
                  { exact: 'cluster.local/ns/a/sa/b' },
                  { presence: {} },
                  { suffix: '/sa/web' },
                  { prefix: 'cluster.local/ns/x/' },
                ],
              },
              {
                sourceIps: [
                  { address: 'CgAAAA==', length: 8 },
                  { address: 'wKgBAQ==', length: 32 },
                ],
                notSourceIps: [{ address: '/QAAAAAAAAAAAAAAAAAAAA==', length: 64 }],
                serviceAccounts: [
                  { namespace: 'shop', serviceAccount: 'web' },
                  { namespace: 'other', serviceAccount: 'api' },
                ],
              },
            ],
          },
          { matches: [{ sourceIps: [{ address: 'CgEAAA==', length: 16 }] }] },
          { matches: [{ notDestinationPorts: [22] }] },
          { matches: [{ namespaces: [{ exact: 'shop' }] }] },
        ],
      },
    ],
  });
  assert.deepEqual(c.status, []);
});

test('empty rules: `rules: [{}]` allows everything, no rules allows nothing', () => {
  assert.deepEqual(convert({ rules: [{}] }).json, {
    name: 'p',
    namespace: 'shop',
    scope: 'NAMESPACE',
    rules: [{}],
  });
  assert.deepEqual(convert({}).json, { name: 'p', namespace: 'shop', scope: 'NAMESPACE' });
});

test('L7 fields: ALLOW rule fails closed, DENY drops the L7 parts, both with status', () => {
  const l7Allow = convert({
    rules: [
      {
        from: [{ source: { principals: ['cluster.local/ns/shop/sa/web'] } }],
        to: [{ operation: { methods: ['GET'], paths: ['/api/*'] } }],
      },
      { from: [{ source: { namespaces: ['shop'] } }] },
    ],
  });
  // The L7 rule is gone; the L4-only rule stays.
  assert.deepEqual(l7Allow.json?.rules, [
    { clauses: [{ matches: [{ namespaces: [{ exact: 'shop' }] }] }] },
  ]);
  assert.equal(l7Allow.status.length, 1);
  assert.match(
    l7Allow.status[0]?.message ?? '',
    /found: methods, paths\).*rules matching HTTP attributes are omitted/,
  );

  const allL7Allow = convert({ rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
  assert.equal(
    allL7Allow.auth?.rules.length,
    0,
    'an ALLOW with only L7 rules matches nothing (fail closed)',
  );

  const mixedDeny = convert({
    action: 'DENY',
    rules: [
      {
        from: [{ source: { namespaces: ['evil'], requestPrincipals: ['*'] } }],
        to: [{ operation: { paths: ['/admin'] } }],
        when: [{ key: 'request.headers[x]', values: ['1'] }],
      },
    ],
  });
  assert.deepEqual(mixedDeny.json?.rules, [
    {
      clauses: [
        { matches: [{}] },
        { matches: [{ namespaces: [{ exact: 'evil' }] }] },
        { matches: [{}] },
      ],
    },
  ]);
  // A clause left with only empty matches never fires in ztunnel: this DENY is a no-op (as in Istio).
  assert.match(
    mixedDeny.status[0]?.message ?? '',
    /found: paths, request.headers\[x\], requestPrincipals\).*will have no effect/,
  );

  const broaderDeny = convert({
    action: 'DENY',
    rules: [{ from: [{ source: { namespaces: ['evil'], requestPrincipals: ['*'] } }] }],
  });
  assert.deepEqual(broaderDeny.json?.rules, [
    { clauses: [{ matches: [{ namespaces: [{ exact: 'evil' }] }] }] },
  ]);
  assert.match(
    broaderDeny.status[0]?.message ?? '',
    /found: requestPrincipals\).*enforced without the HTTP rules. This will be more restrictive/,
  );

  const noEffectDeny = convert({
    action: 'DENY',
    rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }],
  });
  assert.match(noEffectDeny.status[0]?.message ?? '', /will have no effect/);
});
