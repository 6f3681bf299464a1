import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpiffeId } from '../identity/index.js';
import { ProxyState, StateUpdater } from '../state/index.js';
import { makeService, makeWorkload } from '../state/testing.js';
import { checkWaypointTraversal } from './waypoint-guard.js';

const CART = 'shop/cart.shop.svc.cluster.local';
const V2 = 'shop/cart-v2.shop.svc.cluster.local';
const WP = {
  destination: { kind: 'address' as const, network: '', address: '10.0.0.99' },
  hboneMtlsPort: 15008,
};
const id = (sa: string) => SpiffeId.parse(`spiffe://cluster.local/ns/shop/sa/${sa}`);

function setup(podWaypoint = false, allowWaypointBypass = false) {
  const state = new ProxyState();
  const up = new StateUpdater(state);
  const cart = makeWorkload({
    name: 'cart-0',
    namespace: 'shop',
    serviceAccount: 'cart',
    workloadIps: ['10.0.0.5'],
    ...(podWaypoint ? { waypoint: WP } : {}),
    services: new Map([
      [CART, new Map([[80, 9080]])],
      [V2, new Map([[81, 9081]])],
    ]),
  });
  up.insertWorkload(cart);
  up.insertWorkload(
    makeWorkload({
      name: 'waypoint-0',
      namespace: 'shop',
      serviceAccount: 'waypoint',
      workloadIps: ['10.0.0.99'],
    }),
  );
  up.insertService(
    makeService({
      name: 'cart',
      namespace: 'shop',
      ports: new Map([[80, 9080]]),
      waypoint: WP,
      ...(allowWaypointBypass ? { allowWaypointBypass } : {}),
    }),
  );
  up.insertService(
    makeService({ name: 'cart-v2', namespace: 'shop', ports: new Map([[81, 9081]]) }),
  );
  return { state, cart: state.workloads.get(cart.uid) ?? assert.fail() };
}

test('waypoint guard: waypoint-fronted target ports accept only the waypoint', () => {
  const { state, cart } = setup();
  assert.equal(checkWaypointTraversal(state, cart, 9080, id('waypoint')).allowed, true);
  const d = checkWaypointTraversal(state, cart, 9080, id('client'));
  assert.equal(d.allowed, false);
  assert.match(d.allowed ? '' : d.reason, /behind waypoint \/10\.0\.0\.99/);
  // A port only an un-fronted Service uses is not affected.
  assert.equal(checkWaypointTraversal(state, cart, 9081, id('client')).allowed, true);
  assert.equal(checkWaypointTraversal(state, cart, 7000, id('client')).allowed, true);
});

test('waypoint guard: a workload waypoint fronts every port', () => {
  const { state, cart } = setup(true);
  assert.equal(checkWaypointTraversal(state, cart, 7000, id('client')).allowed, false);
  assert.equal(checkWaypointTraversal(state, cart, 7000, id('waypoint')).allowed, true);
});

test('waypoint guard: a Service that allows bypass does not guard its ports; a workload waypoint still does', () => {
  const { state, cart } = setup(false, true);
  assert.equal(checkWaypointTraversal(state, cart, 9080, id('client')).allowed, true);
  const pod = setup(true, true);
  assert.equal(checkWaypointTraversal(pod.state, pod.cart, 9080, id('client')).allowed, false);
});
