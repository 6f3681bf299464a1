import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyState, StateUpdater } from './proxy-state.js';
import type { RouteDecision } from './route.js';
import { makeService, makeWorkload } from './testing.js';
import type { GatewayAddress, Workload } from './types.js';

const CART = 'shop/cart.shop.svc.cluster.local';
const WP = 'shop/waypoint.shop.svc.cluster.local';
const wpByIp: GatewayAddress = {
  destination: { kind: 'address', network: '', address: '10.96.0.99' },
  hboneMtlsPort: 15008,
};
const wpByName: GatewayAddress = {
  destination: { kind: 'hostname', namespace: 'shop', hostname: 'waypoint.shop.svc.cluster.local' },
  hboneMtlsPort: 15008,
};

function world(
  o: {
    cartWaypoint?: GatewayAddress;
    podWaypoint?: GatewayAddress;
    cartProtocol?: 'HBONE' | 'TCP';
  } = {},
) {
  const state = new ProxyState();
  const up = new StateUpdater(state);
  const client = makeWorkload({
    name: 'client',
    namespace: 'shop',
    serviceAccount: 'client',
    workloadIps: ['10.0.0.1'],
  });
  const cart = makeWorkload({
    name: 'cart-0',
    namespace: 'shop',
    serviceAccount: 'cart',
    workloadIps: ['10.0.0.5', 'fd00::5'],
    protocol: o.cartProtocol ?? 'HBONE',
    waypoint: o.podWaypoint,
    services: new Map([[CART, new Map([[80, 9080]])]]),
  });
  const waypoint = makeWorkload({
    name: 'waypoint-0',
    namespace: 'shop',
    serviceAccount: 'waypoint',
    workloadIps: ['10.0.0.99'],
    services: new Map([[WP, new Map([[15008, 15008]])]]),
  });
  for (const w of [client, cart, waypoint]) up.insertWorkload(w);
  up.insertService(
    makeService({
      name: 'cart',
      namespace: 'shop',
      vips: [
        { network: '', address: '10.96.0.10' },
        { network: '', address: 'fd00:96::10' },
      ],
      ports: new Map([[80, 9080]]),
      subjectAltNames: ['spiffe://cluster.local/ns/shop/sa/cart-alt', 'not a spiffe id'],
      waypoint: o.cartWaypoint,
    }),
  );
  up.insertService(
    makeService({
      name: 'waypoint',
      namespace: 'shop',
      vips: [{ network: '', address: '10.96.0.99' }],
      ports: new Map([[15008, 15008]]),
    }),
  );
  return { state, up, client, cart, waypoint };
}

function summary(d: RouteDecision): Record<string, unknown> {
  const base: Record<string, unknown> = { kind: d.kind };
  if ('dial' in d) base.dial = `${d.dial.ip}:${d.dial.port}`;
  if ('authority' in d) base.authority = d.authority;
  if ('expectedIdentities' in d) base.ids = d.expectedIdentities.map((i) => i.uri);
  if (d.kind === 'error') base.reason = d.reason;
  return base;
}

test('service VIP → HBONE to a pod: podIP:15008, authority podIP:targetPort, workload + service SANs', () => {
  const { state, client } = world();
  const d = state.route(client, { ip: '10.96.0.10', port: 80 });
  assert.deepEqual(summary(d), {
    kind: 'hbone',
    dial: '10.0.0.5:15008',
    authority: '10.0.0.5:9080',
    ids: ['spiffe://cluster.local/ns/shop/sa/cart-alt', 'spiffe://cluster.local/ns/shop/sa/cart'],
  });
  assert.equal(d.kind === 'hbone' && d.service?.name, 'cart');
});

test('IPv6 VIP picks the pod IP of the same family and brackets the authority', () => {
  const { state, client } = world();
  const d = state.route(client, { ip: 'fd00:96::10', port: 80 });
  assert.equal(d.kind === 'hbone' && d.authority, '[fd00::5]:9080');
  assert.equal(d.kind === 'hbone' && d.dial.ip, 'fd00::5');
});

test('pod IP directly → HBONE with the original port, workload identity only', () => {
  const { state, client } = world();
  assert.deepEqual(summary(state.route(client, { ip: '10.0.0.5', port: 9080 })), {
    kind: 'hbone',
    dial: '10.0.0.5:15008',
    authority: '10.0.0.5:9080',
    ids: ['spiffe://cluster.local/ns/shop/sa/cart'],
  });
});

test('non-mesh (TCP) workload → plain TCP to podIP:targetPort', () => {
  const { state, client } = world({ cartProtocol: 'TCP' });
  assert.deepEqual(summary(state.route(client, { ip: '10.96.0.10', port: 80 })), {
    kind: 'tcp',
    dial: '10.0.0.5:9080',
  });
});

for (const [name, gw] of [
  ['by VIP', wpByIp],
  ['by hostname', wpByName],
] as const) {
  test(`service with a waypoint (${name}) → HBONE to the waypoint, authority keeps VIP:port`, () => {
    const { state, client } = world({ cartWaypoint: gw });
    const d = state.route(client, { ip: '10.96.0.10', port: 80 });
    assert.deepEqual(summary(d), {
      kind: 'waypoint',
      dial: '10.0.0.99:15008',
      authority: '10.96.0.10:80',
      ids: ['spiffe://cluster.local/ns/shop/sa/waypoint'],
    });
    assert.equal(d.kind === 'waypoint' && d.service?.name, 'cart');
  });
}

test('traffic from the waypoint itself is never sent back to it', () => {
  const { state, waypoint } = world({ cartWaypoint: wpByIp, podWaypoint: wpByIp });
  assert.equal(state.route(waypoint, { ip: '10.96.0.10', port: 80 }).kind, 'hbone');
  assert.equal(state.route(waypoint, { ip: '10.0.0.5', port: 9080 }).kind, 'hbone');
  // Same identity but a different source IP is not the waypoint.
  const d = state.route(waypoint, { ip: '10.0.0.5', port: 9080 }, { sourceIp: '10.0.0.1' });
  assert.equal(d.kind, 'waypoint');
});

test('workload waypoint applies to workload-addressed traffic only', () => {
  const { state, client } = world({ podWaypoint: wpByName });
  assert.deepEqual(summary(state.route(client, { ip: '10.0.0.5', port: 9080 })), {
    kind: 'waypoint',
    dial: '10.0.0.99:15008',
    authority: '10.0.0.5:9080',
    ids: ['spiffe://cluster.local/ns/shop/sa/waypoint'],
  });
  // Service-addressed (the service has no waypoint): straight to the pod.
  assert.equal(state.route(client, { ip: '10.96.0.10', port: 80 }).kind, 'hbone');
});

test('unknown destination → passthrough to the original address', () => {
  const { state, client } = world();
  assert.deepEqual(summary(state.route(client, { ip: '192.0.2.1', port: 443 })), {
    kind: 'passthrough',
    dial: '192.0.2.1:443',
  });
});

test('PASSTHROUGH service → passthrough; no healthy endpoint → NoHealthyUpstream', () => {
  const { state, up, client, cart } = world();
  const svc = state.services.get(CART);
  assert.ok(svc);
  up.insertService({
    ...svc,
    loadBalancer: { routingPreferences: [], mode: 'Passthrough', healthPolicy: 'OnlyHealthy' },
  });
  assert.equal(state.route(client, { ip: '10.96.0.10', port: 80 }).kind, 'passthrough');
  up.insertService(svc);
  up.insertWorkload({ ...cart, status: 'Unhealthy' } as Workload);
  assert.deepEqual(summary(state.route(client, { ip: '10.96.0.10', port: 80 })), {
    kind: 'error',
    reason: 'NoHealthyUpstream',
  });
  // A port the service does not expose has no upstream either.
  up.insertWorkload(cart);
  assert.equal(state.route(client, { ip: '10.96.0.10', port: 81 }).kind, 'error');
});

test('a waypoint that cannot be resolved is an error, not a bypass', () => {
  const { state, client } = world({
    cartWaypoint: {
      destination: { kind: 'hostname', namespace: 'shop', hostname: 'missing.example' },
      hboneMtlsPort: 15008,
    },
  });
  assert.deepEqual(summary(state.route(client, { ip: '10.96.0.10', port: 80 })), {
    kind: 'error',
    reason: 'UnknownWaypoint',
  });
  // Known waypoint service with no endpoint: also an error.
  const w = world({ cartWaypoint: wpByIp });
  w.up.removeAddress('Kubernetes//Pod/shop/waypoint-0');
  assert.equal(
    summary(w.state.route(w.client, { ip: '10.96.0.10', port: 80 })).reason,
    'UnknownWaypoint',
  );
});

test('endpoints on another network are refused (no gateway support yet)', () => {
  const { state, up, client, cart } = world();
  up.insertWorkload({ ...cart, network: 'remote' } as Workload);
  assert.deepEqual(summary(state.route(client, { ip: '10.96.0.10', port: 80 })), {
    kind: 'error',
    reason: 'NoValidDestination',
  });
});
