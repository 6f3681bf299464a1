import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  loadShop,
  makePod,
  runnerPods,
  waypointService,
} from '../../../test/fixtures/manifests/load.js';
import {
  TunnelProtocol,
  type Workload,
  WorkloadStatus,
  WorkloadType,
} from '../../gen/istio/workload/workload_pb.js';
import { parseResource, type Resource } from '../../kube/index.js';
import { translate } from './translate.js';

function res(raw: Record<string, unknown>): Resource {
  const r = parseResource(raw);
  if (!('ok' in r)) throw new Error(JSON.stringify(r));
  return r.ok;
}
const ns = (name: string, labels: Record<string, string> = {}) =>
  res({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const pod = (
  name: string,
  extra: {
    ns?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    owner?: Record<string, unknown>;
    spec?: Record<string, unknown>;
    status?: Record<string, unknown>;
  } = {},
) =>
  makePod({
    metadata: {
      name,
      namespace: extra.ns ?? 'shop',
      labels: extra.labels ?? {},
      annotations: extra.annotations ?? {},
      ownerReferences: extra.owner ? [extra.owner] : [],
    },
    spec: {
      containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }],
      ...extra.spec,
    },
    status: { phase: 'Running', podIP: '10.244.0.9', ...extra.status },
  });

function workload(resources: Resource[], name: string, namespace = 'shop', opts = {}): Workload {
  const a = translate(resources, opts).addresses.get(`Kubernetes//Pod/${namespace}/${name}`);
  if (a?.type.case !== 'workload') assert.fail(`no workload ${namespace}/${name}`);
  return a.type.value;
}

test('shop fixture: identity, addresses, services with named targetPorts resolved per pod', () => {
  const shop = loadShop();
  const all = [...shop, ...runnerPods(shop), waypointService('shop', 'waypoint', '10.96.0.100')];
  const v2 = workload(all, 'catalog-v2-5d8f7-0');
  assert.equal(v2.uid, 'Kubernetes//Pod/shop/catalog-v2-5d8f7-0');
  assert.equal(v2.name, 'catalog-v2-5d8f7-0');
  assert.deepEqual([...(v2.addresses[0] ?? [])], [10, 244, 0, 13]);
  assert.equal(v2.serviceAccount, 'catalog');
  assert.equal(v2.trustDomain, '');
  assert.equal(v2.node, 'node-a');
  assert.equal(v2.workloadType, WorkloadType.DEPLOYMENT);
  assert.equal(v2.workloadName, 'catalog-v2');
  assert.deepEqual([v2.canonicalName, v2.canonicalRevision], ['catalog', 'v2']);
  assert.deepEqual(Object.keys(v2.services).sort(), [
    'shop/catalog-v2.shop.svc.cluster.local',
    'shop/catalog.shop.svc.cluster.local',
  ]);
  assert.deepEqual(
    v2.services['shop/catalog.shop.svc.cluster.local']?.ports.map((p) => [
      p.servicePort,
      p.targetPort,
    ]),
    [[80, 9090]],
  );
  const v1 = workload(all, 'catalog-v1-5d8f7-0');
  assert.deepEqual(
    v1.services['shop/catalog.shop.svc.cluster.local']?.ports.map((p) => [
      p.servicePort,
      p.targetPort,
    ]),
    [[80, 9080]],
  );
  // ratings has no targetPort: it defaults to the service port.
  const ratings = workload(all, 'ratings-5d8f7-0');
  assert.deepEqual(
    ratings.services['shop/ratings.shop.svc.cluster.local']?.ports.map((p) => [
      p.servicePort,
      p.targetPort,
    ]),
    [[9080, 9080]],
  );
  // loadgen is selected by no Service.
  assert.deepEqual(workload(all, 'loadgen-5d8f7-0').services, {});
  assert.deepEqual(v1.authorizationPolicies, [
    'shop/catalog-via-waypoint',
    'istio-system/istio_converted_static_strict',
  ]);
  // legacy: not enrolled, no PeerAuthentication applies.
  const inv = workload(all, 'inventory-5d8f7-0', 'legacy');
  assert.equal(inv.tunnelProtocol, TunnelProtocol.NONE);
  assert.deepEqual(inv.authorizationPolicies, []);
});

test('tunnel protocol follows enrollment (namespace/pod labels, opt-out, sidecars, native tunnel)', () => {
  const cases: Array<[string, Resource[], Resource, TunnelProtocol, boolean]> = [
    [
      'namespace enrolled',
      [ns('shop', { 'istio.io/dataplane-mode': 'ambient' })],
      pod('a'),
      TunnelProtocol.HBONE,
      false,
    ],
    [
      'pod opts out',
      [ns('shop', { 'istio.io/dataplane-mode': 'ambient' })],
      pod('a', { labels: { 'istio.io/dataplane-mode': 'none' } }),
      TunnelProtocol.NONE,
      false,
    ],
    [
      'pod opts in',
      [ns('shop')],
      pod('a', { labels: { 'istio.io/dataplane-mode': 'ambient' } }),
      TunnelProtocol.HBONE,
      false,
    ],
    ['not enrolled', [ns('shop')], pod('a'), TunnelProtocol.NONE, false],
    ['no namespace object', [], pod('a'), TunnelProtocol.NONE, false],
    [
      'sidecar injected',
      [ns('shop', { 'istio.io/dataplane-mode': 'ambient' })],
      pod('a', { annotations: { 'sidecar.istio.io/status': '{}' } }),
      TunnelProtocol.NONE,
      false,
    ],
    [
      'CNI redirection annotation',
      [ns('shop')],
      pod('a', { annotations: { 'ambient.istio.io/redirection': 'enabled' } }),
      TunnelProtocol.HBONE,
      false,
    ],
    [
      'native HBONE (waypoint pod)',
      [ns('shop')],
      pod('a', { labels: { 'networking.istio.io/tunnel': 'http' } }),
      TunnelProtocol.HBONE,
      true,
    ],
  ];
  for (const [name, extra, p, want, native] of cases) {
    const w = workload([...extra, p], 'a');
    assert.equal(w.tunnelProtocol, want, name);
    assert.equal(w.nativeTunnel, native, name);
  }
});

test('trust domain and service account are elided when default', () => {
  const dflt = workload([pod('a')], 'a');
  assert.deepEqual([dflt.trustDomain, dflt.serviceAccount], ['', '']);
  const custom = workload([pod('a', { spec: { serviceAccountName: 'web' } })], 'a', 'shop', {
    trustDomain: 'corp.example',
  });
  assert.deepEqual([custom.trustDomain, custom.serviceAccount], ['corp.example', 'web']);
});

test('canonical name and revision', () => {
  const cases: Array<[Record<string, string>, string, string]> = [
    [
      {
        'service.istio.io/canonical-name': 'cn',
        'service.istio.io/canonical-revision': 'cr',
        app: 'x',
        version: 'v',
      },
      'cn',
      'cr',
    ],
    [{ 'app.kubernetes.io/name': 'k8s', app: 'x', 'app.kubernetes.io/version': '2' }, 'k8s', '2'],
    [{ app: 'x', version: 'v3' }, 'x', 'v3'],
    [{}, 'a', 'latest'],
  ];
  for (const [labels, name, rev] of cases) {
    const w = workload([pod('a', { labels })], 'a');
    assert.deepEqual([w.canonicalName, w.canonicalRevision], [name, rev], JSON.stringify(labels));
  }
});

test('workload type and name from the owner', () => {
  const cases: Array<
    [Record<string, unknown> | undefined, Record<string, string>, WorkloadType, string]
  > = [
    [
      { kind: 'ReplicaSet', name: 'web-6b9c', controller: true },
      { 'pod-template-hash': '6b9c' },
      WorkloadType.DEPLOYMENT,
      'web',
    ],
    [{ kind: 'Deployment', name: 'web', controller: true }, {}, WorkloadType.DEPLOYMENT, 'web'],
    [
      { kind: 'Job', name: 'backup-28391040', controller: true },
      {},
      WorkloadType.CRONJOB,
      'backup',
    ],
    [{ kind: 'Job', name: 'migrate', controller: true }, {}, WorkloadType.JOB, 'migrate'],
    [undefined, {}, WorkloadType.POD, 'a'],
  ];
  for (const [owner, labels, type, name] of cases) {
    const w = workload([pod('a', { owner, labels })], 'a');
    assert.deepEqual([w.workloadType, w.workloadName], [type, name], JSON.stringify(owner));
  }
});

test('health: ready condition, running phase, deletion; finished or IP-less pods are not workloads', () => {
  const cases: Array<[Record<string, unknown>, WorkloadStatus]> = [
    [{ conditions: [{ type: 'Ready', status: 'True' }] }, WorkloadStatus.HEALTHY],
    [{ conditions: [{ type: 'Ready', status: 'False' }] }, WorkloadStatus.UNHEALTHY],
    [{ phase: 'Running' }, WorkloadStatus.HEALTHY],
    [{ phase: 'Pending' }, WorkloadStatus.UNHEALTHY],
  ];
  for (const [status, want] of cases)
    assert.equal(workload([pod('a', { status })], 'a').status, want, JSON.stringify(status));
  const deleting = makePod({
    metadata: { name: 'a', namespace: 'shop', deletionTimestamp: '2024-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'c' }] },
    status: { phase: 'Running', podIP: '10.0.0.1' },
  });
  assert.equal(workload([deleting], 'a').status, WorkloadStatus.UNHEALTHY);
  assert.equal(translate([pod('a', { status: { phase: 'Succeeded' } })]).addresses.size, 0);
  assert.equal(translate([pod('a', { status: { podIP: undefined } })]).addresses.size, 0);
});

test('locality from node map or pod topology labels; IPv6 addresses', () => {
  const byNode = workload([pod('a', { spec: { nodeName: 'n1' } })], 'a', 'shop', {
    nodeLocality: new Map([['n1', { region: 'eu', zone: 'eu-1a', subzone: '' }]]),
  });
  assert.deepEqual([byNode.locality?.region, byNode.locality?.zone], ['eu', 'eu-1a']);
  const byLabel = workload([pod('a', { labels: { 'topology.kubernetes.io/zone': 'z2' } })], 'a');
  assert.equal(byLabel.locality?.zone, 'z2');
  assert.equal(workload([pod('a')], 'a').locality, undefined);
  const v6 = workload([pod('a', { status: { podIP: 'fd00::1' } })], 'a');
  assert.equal(v6.addresses[0]?.length, 16);
  assert.equal(v6.addresses[0]?.[15], 1);
});
