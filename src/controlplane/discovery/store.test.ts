import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseManifestText } from '../../kube/index.js';
import { translate } from '../translate/index.js';
import { ConfigStore } from './store.js';

const meta = { name: 'x', namespace: 'shop' };
/** kind → [valid, invalid (same name), expected reason] */
const KINDS: Array<[string, Record<string, unknown>, Record<string, unknown>, RegExp]> = [
  [
    'Namespace',
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { a: 'b' } } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { a: 1 } } },
    /^Namespace x: metadata\.labels\.a: /,
  ],
  [
    'ServiceAccount',
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { ...meta, annotations: [] } },
    /^ServiceAccount shop\/x: metadata\.annotations: /,
  ],
  [
    'Pod',
    { apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: { containers: [{ name: 'c' }] } },
    { apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: { containers: [] } },
    /^Pod shop\/x: spec\.containers: /,
  ],
  [
    'Deployment',
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta,
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c' }] } },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta,
      spec: { replicas: -1, selector: {}, template: { spec: { containers: [{ name: 'c' }] } } },
    },
    /^Deployment shop\/x: spec\.replicas: /,
  ],
  [
    'Service',
    { apiVersion: 'v1', kind: 'Service', metadata: meta, spec: { ports: [{ port: 80 }] } },
    { apiVersion: 'v1', kind: 'Service', metadata: meta, spec: { clusterIP: '300.1.1.1' } },
    /^Service shop\/x: spec\.clusterIP: /,
  ],
  [
    'AuthorizationPolicy',
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: meta, spec: {} },
    {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: meta,
      spec: { rules: [{ to: [{ operation: { ports: ['http'] } }] }] },
    },
    /^AuthorizationPolicy shop\/x: spec\.rules\[0\]\.to\[0\]\.operation\.ports\[0\]: must be 1-65535/,
  ],
  [
    'PeerAuthentication',
    {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: meta,
      spec: { mtls: { mode: 'STRICT' } },
    },
    {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: meta,
      spec: { mtls: { mode: 'ON' } },
    },
    /^PeerAuthentication shop\/x: spec\.mtls\.mode: /,
  ],
  [
    'Gateway',
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: meta,
      spec: { gatewayClassName: 'istio-waypoint' },
    },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: meta,
      spec: {
        gatewayClassName: 'istio-waypoint',
        listeners: [{ name: 'mesh', port: 0, protocol: 'HBONE' }],
      },
    },
    /^Gateway shop\/x: spec\.listeners\[0\]\.port: must be 1-65535/,
  ],
  [
    'HTTPRoute',
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: meta, spec: {} },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: meta,
      spec: { rules: [{ matches: [{ path: { value: 'no-slash' } }] }] },
    },
    /^HTTPRoute shop\/x: spec\.rules\[0\]\.matches\[0\]\.path\.value: must start with \//,
  ],
  [
    'BackendPolicy',
    {
      apiVersion: 'policy.ambit.dev/v1alpha1',
      kind: 'BackendPolicy',
      metadata: meta,
      spec: { targetRefs: [{ group: '', kind: 'Service', name: 's' }] },
    },
    {
      apiVersion: 'policy.ambit.dev/v1alpha1',
      kind: 'BackendPolicy',
      metadata: meta,
      spec: { targetRefs: [] },
    },
    /^BackendPolicy shop\/x: spec\.targetRefs: at least one targetRef is required/,
  ],
  [
    'RateLimitPolicy',
    {
      apiVersion: 'policy.ambit.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: meta,
      spec: {
        targetRefs: [{ group: '', kind: 'Service', name: 's' }],
        local: { requests: 5, interval: '1s' },
      },
    },
    {
      apiVersion: 'policy.ambit.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: meta,
      spec: {
        targetRefs: [{ group: '', kind: 'Service', name: 's' }],
        local: { requests: 0, interval: '1s' },
      },
    },
    /^RateLimitPolicy shop\/x: spec\.local\.requests: must be at least 1/,
  ],
  [
    'DestinationRule',
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: meta,
      spec: { host: 's' },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: meta,
      spec: { host: 's', trafficPolicy: { outlierDetection: { interval: 'often' } } },
    },
    /^DestinationRule shop\/x: spec\.trafficPolicy\.outlierDetection\.interval: invalid duration/,
  ],
];

const yamlOf = (...objs: unknown[]) => objs.map((o) => JSON.stringify(o)).join('\n---\n');
const set = (file: string, ...objs: unknown[]) => parseManifestText(yamlOf(...objs), file);

test('every kind: an invalid new version is rejected with kind/ns/name, reason and source; the last good one stays', () => {
  for (const [kind, good, bad, reason] of KINDS) {
    const store = new ConfigStore();
    store.replaceOrigin('/m/a.yaml', set('/m/a.yaml', good));
    const before = store.snapshot();
    assert.equal(before.resources.length, 1, kind);
    store.replaceOrigin(
      '/m/a.yaml',
      set('/m/a.yaml', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, bad),
    );
    assert.equal(store.snapshot(), before, `${kind}: no new snapshot`);
    const [st] = store.status();
    assert.equal(st?.ref.kind, kind);
    assert.equal(st?.ref.name, 'x');
    assert.equal(st?.code, 'AMBIT_KUBE_RESOURCE_INVALID');
    assert.match(st?.reason ?? '', reason, kind);
    assert.equal(st?.where, '/m/a.yaml (document 1)');
    assert.equal(st?.retained, true);
    // Fixing it clears the status.
    store.replaceOrigin('/m/a.yaml', set('/m/a.yaml', good));
    assert.deepEqual(store.status(), [], kind);
  }
});

test('a resource invalid from the start is not in force and is listed, not retained', () => {
  const store = new ConfigStore();
  store.replaceOrigin('/m/a.yaml', set('/m/a.yaml', KINDS[4]?.[2]));
  assert.equal(store.snapshot().resources.length, 0);
  assert.deepEqual(
    store.status().map((s) => [s.ref.kind, s.retained]),
    [['Service', false]],
  );
});

test('removing an origin removes its resources; YAML errors keep the previous ones', () => {
  const store = new ConfigStore();
  const [, sa] = KINDS[1] ?? [];
  store.replaceOrigin('/m/a.yaml', set('/m/a.yaml', sa));
  store.replaceOrigin('/m/a.yaml', parseManifestText('kind: [broken', '/m/a.yaml'));
  assert.equal(store.snapshot().resources.length, 1);
  assert.equal(store.status()[0]?.code, 'AMBIT_KUBE_MANIFEST_PARSE');
  store.removeOrigin('/m/a.yaml');
  assert.equal(store.snapshot().resources.length, 0);
  assert.deepEqual(store.status(), []);
});

test('duplicates across files: the first file wins, the other is listed naming both; removal hands over', () => {
  const store = new ConfigStore();
  const sa = (ann: string) => ({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'x', namespace: 'shop', annotations: { v: ann } },
  });
  store.replaceOrigin('/m/b.yaml', set('/m/b.yaml', sa('b')));
  store.replaceOrigin('/m/a.yaml', set('/m/a.yaml', sa('a')));
  assert.equal(store.snapshot().resources[0]?.metadata.annotations.v, 'a');
  const [dup] = store.status();
  assert.equal(dup?.code, 'AMBIT_KUBE_RESOURCE_DUPLICATE');
  assert.match(
    dup?.reason ?? '',
    /\/m\/a\.yaml \(document 0\) and again in \/m\/b\.yaml \(document 0\)/,
  );
  store.removeOrigin('/m/a.yaml');
  assert.equal(store.snapshot().resources[0]?.metadata.annotations.v, 'b');
  assert.deepEqual(store.status(), []);
});

test('runtime pods: upsert/delete from the local runner, reflected in translation; bad pods rejected', () => {
  const store = new ConfigStore();
  store.upsertPod({
    name: 'web-0',
    namespace: 'shop',
    ip: '10.244.0.7',
    labels: { app: 'web' },
    serviceAccount: 'web',
    node: 'n1',
    deployment: 'web',
    ports: [{ name: 'http', containerPort: 8080 }],
  });
  const cfg = translate(store.snapshot().resources);
  const w = cfg.addresses.get('Kubernetes//Pod/shop/web-0');
  assert.equal(w?.type.case, 'workload');
  if (w?.type.case === 'workload')
    assert.deepEqual(
      [w.type.value.serviceAccount, w.type.value.node, w.type.value.workloadName],
      ['web', 'n1', 'web'],
    );
  store.upsertPod({ name: 'web-1', namespace: 'shop', ip: 'not-an-ip' });
  assert.match(
    store.status()[0]?.reason ?? '',
    /^Pod shop\/web-1: status\.podIP: must be an IPv4 or IPv6 address/,
  );
  store.deletePod('shop', 'web-0');
  assert.equal(store.snapshot().resources.length, 0);
});

test('listeners get one snapshot per burst, none for a no-op re-read', async () => {
  const store = new ConfigStore();
  const versions: number[] = [];
  store.onChange((s) => versions.push(s.version));
  store.upsertPod({ name: 'a', namespace: 'shop', ip: '10.0.0.1' });
  store.upsertPod({ name: 'b', namespace: 'shop', ip: '10.0.0.2' });
  await Promise.resolve();
  assert.deepEqual(versions, [2]);
  store.upsertPod({ name: 'b', namespace: 'shop', ip: '10.0.0.2' });
  await Promise.resolve();
  assert.deepEqual(versions, [2]);
});
