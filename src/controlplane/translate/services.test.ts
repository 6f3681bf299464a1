import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  loadShop,
  makePod,
  runnerPods,
  waypointService,
} from '../../../test/fixtures/manifests/load.js';
import {
  IPFamilies,
  LoadBalancing_HealthPolicy,
  LoadBalancing_Mode,
  LoadBalancing_Scope as S,
  type Service as XdsService,
} from '../../gen/istio/workload/workload_pb.js';
import { parseResource, type Resource } from '../../kube/index.js';
import { translate } from './translate.js';

function res(raw: Record<string, unknown>): Resource {
  const r = parseResource(raw);
  if (!('ok' in r)) throw new Error(JSON.stringify(r));
  return r.ok;
}
const ns = (
  name: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
) => res({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, annotations } });
const svc = (
  name: string,
  meta: Record<string, unknown> = {},
  spec: Record<string, unknown> = {},
) =>
  res({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'shop', ...meta },
    spec: {
      clusterIP: '10.96.0.5',
      selector: { app: name },
      ports: [{ name: 'http', port: 80, targetPort: 'http' }],
      ...spec,
    },
  });
const gateway = (
  name: string,
  labels: Record<string, string> = {},
  namespace = 'shop',
  listeners: unknown[] = [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
) =>
  res({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace, labels },
    spec: { gatewayClassName: 'istio-waypoint', listeners },
  });

function service(resources: Resource[], name: string, namespace = 'shop'): XdsService {
  const a = translate(resources).addresses.get(
    `${namespace}/${name}.${namespace}.svc.cluster.local`,
  );
  if (a?.type.case !== 'service') assert.fail(`no service ${name}`);
  return a.type.value;
}

test('Service fields: hostname, VIPs, ports (named targetPort = 0), SANs, canonical, families', () => {
  const s = service(
    [
      svc(
        'web',
        {
          annotations: {
            'alpha.istio.io/kubernetes-serviceaccounts': 'web,web-canary',
            'alpha.istio.io/canonical-serviceaccounts': 'corp.example/ns/x/sa/y',
          },
        },
        {
          clusterIPs: ['10.96.0.5', 'fd00::5'],
          ipFamilies: ['IPv4', 'IPv6'],
          ports: [
            { name: 'http', port: 80, targetPort: 'http' },
            { port: 443, targetPort: 8443 },
            { port: 9000 },
          ],
        },
      ),
    ],
    'web',
  );
  assert.equal(s.hostname, 'web.shop.svc.cluster.local');
  assert.deepEqual(
    s.addresses.map((a) => a.address.length),
    [4, 16],
  );
  assert.deepEqual(
    s.ports.map((p) => [p.servicePort, p.targetPort]),
    [
      [80, 0],
      [443, 8443],
      [9000, 9000],
    ],
  );
  assert.deepEqual(s.subjectAltNames, [
    'spiffe://cluster.local/ns/shop/sa/web',
    'spiffe://cluster.local/ns/shop/sa/web-canary',
    'spiffe://corp.example/ns/x/sa/y',
  ]);
  assert.equal(s.canonical, true);
  assert.equal(s.ipFamilies, IPFamilies.DUAL);
});

test('a Service that selects nothing is still a Service, with no endpoints; ExternalName is skipped', () => {
  const cfg = translate([
    svc('orphan', {}, { selector: undefined }),
    svc('ext', {}, { type: 'ExternalName', clusterIP: undefined }),
    makePod({
      metadata: { name: 'p', namespace: 'shop', labels: { app: 'orphan' } },
      spec: { containers: [{ name: 'c' }] },
      status: { phase: 'Running', podIP: '10.0.0.1' },
    }),
  ]);
  assert.ok(cfg.addresses.has('shop/orphan.shop.svc.cluster.local'));
  assert.ok(!cfg.addresses.has('shop/ext.shop.svc.cluster.local'));
  const p = cfg.addresses.get('Kubernetes//Pod/shop/p');
  assert.equal(p?.type.case, 'workload');
  if (p?.type.case === 'workload') assert.deepEqual(p.type.value.services, {});
});

test('load balancing from traffic distribution, internalTrafficPolicy and publishNotReadyAddresses', () => {
  const cases: Array<
    [Resource[], S[], LoadBalancing_Mode, LoadBalancing_HealthPolicy] | [Resource[], undefined]
  > = [
    [
      [svc('a', { annotations: { 'networking.istio.io/traffic-distribution': 'PreferClose' } })],
      [S.NETWORK, S.REGION, S.ZONE],
      LoadBalancing_Mode.FAILOVER,
      LoadBalancing_HealthPolicy.ONLY_HEALTHY,
    ],
    [
      [svc('a', {}, { trafficDistribution: 'PreferSameNode' })],
      [S.NETWORK, S.REGION, S.ZONE, S.SUBZONE, S.NODE],
      LoadBalancing_Mode.FAILOVER,
      LoadBalancing_HealthPolicy.ONLY_HEALTHY,
    ],
    [
      [ns('shop', {}, { 'networking.istio.io/traffic-distribution': 'PreferSameZone' }), svc('a')],
      [S.NETWORK, S.REGION, S.ZONE],
      LoadBalancing_Mode.FAILOVER,
      LoadBalancing_HealthPolicy.ONLY_HEALTHY,
    ],
    [
      [svc('a', {}, { internalTrafficPolicy: 'Local', trafficDistribution: 'PreferClose' })],
      [S.NODE],
      LoadBalancing_Mode.STRICT,
      LoadBalancing_HealthPolicy.ONLY_HEALTHY,
    ],
    [
      [svc('a', {}, { publishNotReadyAddresses: true })],
      [],
      LoadBalancing_Mode.UNSPECIFIED_MODE,
      LoadBalancing_HealthPolicy.ALLOW_ALL,
    ],
    [[svc('a')], undefined],
  ];
  for (const [resources, pref, mode, health] of cases) {
    const lb = service(resources, 'a').loadBalancing;
    if (pref === undefined) assert.equal(lb, undefined);
    else
      assert.deepEqual([lb?.routingPreference, lb?.mode, lb?.healthPolicy], [pref, mode, health]);
  }
});

test('waypoint: address is the VIP of the Service named after the Gateway, port 15008', () => {
  const s = service(
    [
      gateway('wp'),
      waypointService('shop', 'wp', '10.96.0.100'),
      svc('a', { labels: { 'istio.io/use-waypoint': 'wp' } }),
    ],
    'a',
  );
  assert.equal(s.waypoint?.destination.case, 'address');
  if (s.waypoint?.destination.case === 'address')
    assert.deepEqual([...s.waypoint.destination.value.address], [10, 96, 0, 100]);
  assert.equal(s.waypoint?.hboneMtlsPort, 15008);
});

test('waypoint binding rules for Services and workloads', () => {
  const wpSvc = waypointService('shop', 'wp', '10.96.0.100');
  const use = { 'istio.io/use-waypoint': 'wp' };
  const p = (labels: Record<string, string>) =>
    makePod({
      metadata: { name: 'p', namespace: 'shop', labels: { app: 'a', ...labels } },
      spec: { containers: [{ name: 'c' }] },
      status: { phase: 'Running', podIP: '10.0.0.1' },
    });
  type Case = [string, Resource[], boolean, boolean, string | undefined];
  const cases: Case[] = [
    // name, resources, service has waypoint, pod has waypoint, expected status reason
    [
      'service label, waypoint-for default (service)',
      [gateway('wp'), wpSvc, svc('a', { labels: use }), p({})],
      true,
      false,
      undefined,
    ],
    [
      'namespace label covers the service',
      [ns('shop', use), gateway('wp'), wpSvc, svc('a'), p({})],
      true,
      false,
      undefined,
    ],
    [
      'service opts out with none',
      [
        ns('shop', use),
        gateway('wp'),
        wpSvc,
        svc('a', { labels: { 'istio.io/use-waypoint': 'none' } }),
        p({}),
      ],
      false,
      false,
      undefined,
    ],
    [
      'waypoint-for workload: pods, not services',
      [
        ns('shop', use),
        gateway('wp', { 'istio.io/waypoint-for': 'workload' }),
        wpSvc,
        svc('a'),
        p({}),
      ],
      false,
      true,
      'UnsupportedTrafficType',
    ],
    [
      'waypoint-for all',
      [ns('shop', use), gateway('wp', { 'istio.io/waypoint-for': 'all' }), wpSvc, svc('a'), p({})],
      true,
      true,
      undefined,
    ],
    [
      'pod opts out with none',
      [
        ns('shop', use),
        gateway('wp', { 'istio.io/waypoint-for': 'all' }),
        wpSvc,
        svc('a'),
        p({ 'istio.io/use-waypoint': 'none' }),
      ],
      true,
      false,
      undefined,
    ],
    [
      'pod labelled for a service waypoint',
      [gateway('wp'), wpSvc, svc('a'), p(use)],
      false,
      false,
      'UnsupportedTrafficType',
    ],
    [
      'waypoint not ready (no Service)',
      [gateway('wp'), svc('a', { labels: use })],
      false,
      false,
      'WaypointNotReady',
    ],
    [
      'unknown waypoint',
      [svc('a', { labels: { 'istio.io/use-waypoint': 'nope' } })],
      false,
      false,
      'WaypointNotReady',
    ],
    [
      'waypoint instance pods have none',
      [
        ns('shop', use),
        gateway('wp', { 'istio.io/waypoint-for': 'all' }),
        wpSvc,
        p({ 'gateway.networking.k8s.io/gateway-name': 'wp' }),
      ],
      false,
      false,
      undefined,
    ],
  ];
  for (const [name, resources, svcWp, podWp, reason] of cases) {
    const cfg = translate(resources);
    const s = cfg.addresses.get('shop/a.shop.svc.cluster.local');
    const w = cfg.addresses.get('Kubernetes//Pod/shop/p');
    if (s)
      assert.equal(
        s.type.case === 'service' && s.type.value.waypoint !== undefined,
        svcWp,
        `${name}: service`,
      );
    assert.equal(
      w?.type.case === 'workload' && w.type.value.waypoint !== undefined,
      podWp,
      `${name}: pod`,
    );
    if (reason)
      assert.ok(
        cfg.statuses.some((st) => st.reason === reason),
        `${name}: ${JSON.stringify(cfg.statuses)}`,
      );
  }
});

test('ambit.dev/allow-waypoint-bypass becomes a Service extension; a bad value is reported, not applied', () => {
  const ext = (annotations: Record<string, string>) =>
    service([svc('cart', { annotations })], 'cart').extensions.map((e) => e.name);
  assert.deepEqual(ext({}), []);
  assert.deepEqual(ext({ 'ambit.dev/allow-waypoint-bypass': 'true' }), [
    'ambit.dev/allow-waypoint-bypass',
  ]);
  assert.deepEqual(ext({ 'ambit.dev/allow-waypoint-bypass': 'false' }), []);
  const bad = translate([
    svc('cart', { annotations: { 'ambit.dev/allow-waypoint-bypass': 'yes' } }),
  ]);
  assert.ok(
    bad.statuses.some(
      (st) => st.reason === 'UnsupportedValue' && /allow-waypoint-bypass/.test(st.message),
    ),
    JSON.stringify(bad.statuses),
  );
  assert.deepEqual(
    service([svc('cart', { annotations: { 'ambit.dev/allow-waypoint-bypass': 'yes' } })], 'cart')
      .extensions,
    [],
  );
});

test('cross-namespace waypoint use needs allowedRoutes All', () => {
  const other = (listeners: unknown[]) => [
    gateway('wp', {}, 'infra', listeners),
    waypointService('infra', 'wp', '10.96.0.100'),
    svc('a', {
      labels: { 'istio.io/use-waypoint': 'wp', 'istio.io/use-waypoint-namespace': 'infra' },
    }),
  ];
  const denied = translate(other([{ name: 'mesh', port: 15008, protocol: 'HBONE' }]));
  assert.ok(denied.statuses.some((s) => s.reason === 'AttachmentDenied'));
  const allowed = service(
    other([
      {
        name: 'mesh',
        port: 15008,
        protocol: 'HBONE',
        allowedRoutes: { namespaces: { from: 'All' } },
      },
    ]),
    'a',
  );
  assert.notEqual(allowed.waypoint, undefined);
});

test('shop fixture: catalog is waypoint-bound and PreferClose', () => {
  const shop = loadShop();
  const all = [...shop, ...runnerPods(shop), waypointService('shop', 'waypoint', '10.96.0.100')];
  const catalog = service(all, 'catalog');
  assert.notEqual(catalog.waypoint, undefined);
  assert.equal(catalog.loadBalancing?.mode, LoadBalancing_Mode.FAILOVER);
  assert.equal(service(all, 'ratings').waypoint, undefined);
  // The waypoint's own Service never has a waypoint.
  assert.equal(service(all, 'waypoint').waypoint, undefined);
});
