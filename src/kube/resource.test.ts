import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseManifestText } from './manifests.js';
import { parseResource, type Resource } from './resource.js';
import { parseResources } from './set.js';

function ok(raw: unknown): Resource {
  const r = parseResource(raw);
  if (!('ok' in r)) assert.fail(`expected ok, got ${JSON.stringify(r)}`);
  return r.ok;
}

function errorOf(raw: unknown): string {
  const r = parseResource(raw);
  if (!('error' in r)) assert.fail(`expected error, got ${JSON.stringify(r)}`);
  assert.equal(r.error.code, 'AMBIT_KUBE_RESOURCE_INVALID');
  return r.error.message;
}

const meta = (name: string, namespace = 'shop') => ({ name, namespace });
const pod = (extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: meta('p'),
  spec: { containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }] },
  ...extra,
});

test('valid resources of every kind parse and are normalised', () => {
  const cases: Array<[unknown, (r: Resource) => void]> = [
    [
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } },
      },
      (r) => assert.equal(r.metadata.namespace, ''),
    ],
    [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa' } },
      (r) => assert.equal(r.metadata.namespace, 'default'),
    ],
    [
      pod(),
      (r) => {
        assert.equal(r.kind, 'Pod');
        if (r.kind !== 'Pod') return;
        assert.equal(r.spec.serviceAccountName, 'default');
        assert.equal(r.status.phase, 'Pending');
      },
    ],
    [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta('d'),
        spec: {
          selector: { matchLabels: { app: 'd' } },
          template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c' }] } },
        },
      },
      (r) => r.kind === 'Deployment' && assert.equal(r.spec.replicas, 1),
    ],
    [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta('s'),
        spec: {
          clusterIP: '10.0.0.1',
          selector: { app: 'x' },
          ports: [{ port: 80, targetPort: 'http' }],
        },
      },
      (r) => r.kind === 'Service' && assert.equal(r.spec.ports[0]?.targetPort, 'http'),
    ],
    [
      {
        apiVersion: 'security.istio.io/v1beta1',
        kind: 'AuthorizationPolicy',
        metadata: meta('a'),
        spec: {
          targetRef: { kind: 'Service', group: '', name: 's' },
          rules: [{ to: [{ operation: { ports: [8080] } }] }],
        },
      },
      (r) => {
        if (r.kind !== 'AuthorizationPolicy') return assert.fail();
        assert.equal(r.spec.action, 'ALLOW');
        assert.equal(r.spec.targetRefs.length, 1);
        assert.deepEqual(r.spec.rules[0]?.to[0]?.operation.ports, ['8080']);
      },
    ],
    [
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: meta('pa'),
        spec: { mtls: { mode: 'STRICT' } },
      },
      (r) => r.kind === 'PeerAuthentication' && assert.equal(r.spec.mtls?.mode, 'STRICT'),
    ],
    [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: meta('waypoint'),
        spec: {
          gatewayClassName: 'istio-waypoint',
          listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
        },
      },
      (r) => r.kind === 'Gateway' && assert.equal(r.spec.listeners[0]?.port, 15008),
    ],
    [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: meta('r'),
        spec: {
          parentRefs: [{ group: '', kind: 'Service', name: 'catalog' }],
          rules: [{ backendRefs: [{ name: 'catalog-v1', port: 80 }], timeouts: { request: '2s' } }],
        },
      },
      (r) => {
        if (r.kind !== 'HTTPRoute') return assert.fail();
        const rule = r.spec.rules[0];
        assert.equal(rule?.backendRefs[0]?.weight, 1);
        assert.equal(rule?.timeouts?.request, 2000);
        assert.deepEqual(rule?.matches, [{ headers: [], queryParams: [] }]);
      },
    ],
    [
      {
        apiVersion: 'policy.ambit.dev/v1alpha1',
        kind: 'BackendPolicy',
        metadata: meta('bp'),
        spec: {
          targetRefs: [{ group: '', kind: 'Service', name: 's' }],
          outlierDetection: { interval: '10s' },
        },
      },
      (r) => r.kind === 'BackendPolicy' && assert.equal(r.spec.outlierDetection?.interval, 10_000),
    ],
    [
      {
        apiVersion: 'policy.ambit.dev/v1alpha1',
        kind: 'RateLimitPolicy',
        metadata: meta('rl'),
        spec: {
          targetRefs: [{ group: '', kind: 'Service', name: 's' }],
          local: { requests: 10, interval: '1s' },
        },
      },
      (r) => r.kind === 'RateLimitPolicy' && assert.equal(r.spec.local.interval, 1000),
    ],
    [
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: meta('dr'),
        spec: { host: 's', trafficPolicy: { connectionPool: { tcp: { maxConnections: 5 } } } },
      },
      (r) =>
        r.kind === 'DestinationRule' &&
        assert.equal(r.spec.trafficPolicy?.connectionPool?.tcp?.maxConnections, 5),
    ],
  ];
  for (const [raw, check] of cases) check(ok(raw));
});

test('invalid resources of every kind are rejected naming kind, ns/name, field and reason', () => {
  const cases: Array<[unknown, RegExp]> = [
    [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Bad_Name' } },
      /^Namespace Bad_Name: metadata\.name: must be a lowercase RFC 1123/,
    ],
    [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', namespace: 'y' } },
      /^Namespace x: metadata\.namespace: must be empty/,
    ],
    [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: {} },
      /^ServiceAccount default\/<unnamed>: metadata\.name: is required/,
    ],
    [
      pod({ spec: { containers: [] } }),
      /^Pod shop\/p: spec\.containers: a pod needs at least one container/,
    ],
    [
      pod({ status: { podIP: 'not-an-ip' } }),
      /^Pod shop\/p: status\.podIP: must be an IPv4 or IPv6 address/,
    ],
    [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta('d'),
        spec: {
          selector: { matchLabels: { app: 'x' } },
          template: { metadata: { labels: { app: 'y' } }, spec: { containers: [{ name: 'c' }] } },
        },
      },
      /^Deployment shop\/d: spec\.selector: selector does not match template labels/,
    ],
    [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta('s'),
        spec: { ports: [{ port: 70000 }] },
      },
      /^Service shop\/s: spec\.ports\[0\]\.port: must be 1-65535/,
    ],
    [
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: meta('a'),
        spec: { rules: [{ from: [{ source: { principal: ['x'] } }] }] },
      },
      /^AuthorizationPolicy shop\/a: spec\.rules\[0\]\.from\[0\]\.source: Unrecognized key: "principal"/,
    ],
    [
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: meta('a'),
        spec: { action: 'PERMIT' },
      },
      /^AuthorizationPolicy shop\/a: spec\.action: /,
    ],
    [
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: meta('a'),
        spec: {
          selector: { matchLabels: { a: 'b' } },
          targetRefs: [{ kind: 'Service', group: '', name: 's' }],
        },
      },
      /spec\.selector: selector and targetRefs are mutually exclusive/,
    ],
    [
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: meta('a'),
        spec: {
          rules: [{ from: [{ source: { principals: ['spiffe://cluster.local/ns/a/sa/b'] } }] }],
        },
      },
      /principals\[0\]: write principals without the spiffe:\/\/ scheme/,
    ],
    [
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: meta('a'),
        spec: { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/40'] } }] }] },
      },
      /ipBlocks\[0\]: must be an IP or CIDR/,
    ],
    [
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: meta('a'),
        spec: { action: 'CUSTOM' },
      },
      /spec\.provider: provider is required with action CUSTOM/,
    ],
    [
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: meta('pa'),
        spec: { mtls: { mode: 'STRICTLY' } },
      },
      /^PeerAuthentication shop\/pa: spec\.mtls\.mode: /,
    ],
    [
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: meta('pa'),
        spec: { portLevelMtls: { '8080': { mode: 'DISABLE' } } },
      },
      /spec\.portLevelMtls: portLevelMtls requires a workload selector/,
    ],
    [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: meta('g'),
        spec: {},
      },
      /^Gateway shop\/g: spec\.gatewayClassName: is required/,
    ],
    [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: meta('r'),
        spec: { rules: [{ timeouts: { request: 'soon' } }] },
      },
      /^HTTPRoute shop\/r: spec\.rules\[0\]\.timeouts\.request: invalid duration "soon"/,
    ],
    [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: meta('r'),
        spec: { rules: [{ filters: [{ type: 'RequestHeaderModifier' }] }] },
      },
      /spec\.rules\[0\]\.filters\[0\]: the field named by type must be set/,
    ],
    [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: meta('r'),
        spec: { rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/v[0-9+' } }] }] },
      },
      /^HTTPRoute shop\/r: spec\.rules\[0\]\.matches\[0\]\.path\.value: invalid regular expression "\/v\[0-9\+": Unterminated character class/,
    ],
    [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: meta('r'),
        spec: {
          rules: [
            {
              matches: [
                {
                  headers: [{ type: 'RegularExpression', name: 'x', value: 'ok.*' }],
                  queryParams: [{ type: 'RegularExpression', name: 'q', value: '(a' }],
                },
              ],
            },
          ],
        },
      },
      /^HTTPRoute shop\/r: spec\.rules\[0\]\.matches\[0\]\.queryParams\[0\]\.value: invalid regular expression "\(a"/,
    ],
    [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: meta('r'),
        spec: { rules: [{ backendRefs: [{ name: 's', port: 80, weight: 1_000_001 }] }] },
      },
      /spec\.rules\[0\]\.backendRefs\[0\]\.weight: /,
    ],
    [
      {
        apiVersion: 'policy.ambit.dev/v1alpha1',
        kind: 'BackendPolicy',
        metadata: meta('bp'),
        spec: { targetRefs: [{ group: 'apps', kind: 'Deployment', name: 'x' }] },
      },
      /^BackendPolicy shop\/bp: spec\.targetRefs\[0\]: targets must be a Service/,
    ],
    [
      {
        apiVersion: 'policy.ambit.dev/v1alpha1',
        kind: 'RateLimitPolicy',
        metadata: meta('rl'),
        spec: {
          targetRefs: [{ group: '', kind: 'Service', name: 's' }],
          local: { requests: 10, interval: '1s', burst: 5 },
        },
      },
      /^RateLimitPolicy shop\/rl: spec\.local\.burst: burst must be at least requests/,
    ],
    [
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: meta('dr'),
        spec: {},
      },
      /^DestinationRule shop\/dr: spec\.host: is required/,
    ],
  ];
  for (const [raw, re] of cases) assert.match(errorOf(raw), re);
});

test('unknown kinds and other groups are ignored, not errors', () => {
  assert.deepEqual(
    parseResource({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }),
    {
      ignored: 'unknown kind',
    },
  );
  // Istio's own Gateway kind is a different resource than the Gateway API one.
  assert.deepEqual(
    parseResource({
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'g' },
    }),
    { ignored: 'unknown kind' },
  );
});

test('duplicates across files keep the first and name both sources', () => {
  const ns = 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, namespace: shop}\n';
  const a = parseManifestText(ns, 'a.yaml');
  const b = parseManifestText(
    `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n${ns}`,
    'b.yaml',
  );
  const set = parseResources([...a.objects, ...b.objects]);
  assert.equal(set.resources.length, 1);
  assert.equal(set.resources[0]?.source.file, 'a.yaml');
  assert.equal(set.ignored, 1);
  assert.equal(set.rejected.length, 1);
  const rej = set.rejected[0];
  assert.equal(rej?.code, 'AMBIT_KUBE_RESOURCE_DUPLICATE');
  assert.deepEqual(rej?.ref, { kind: 'ServiceAccount', namespace: 'shop', name: 'a' });
  assert.match(
    rej?.reason ?? '',
    /a\.yaml \(document 0\).*b\.yaml \(document 1\); the first is used/,
  );
});
