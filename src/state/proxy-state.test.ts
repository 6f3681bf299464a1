import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { Action, AuthorizationSchema, Scope } from '../gen/istio/security/authorization_pb.js';
import { AddressSchema } from '../gen/istio/workload/workload_pb.js';
import { ProxyState, type StateEvents, StateUpdater } from './proxy-state.js';
import { makePolicy, makeService, makeWorkload } from './testing.js';
import { policyKey } from './types.js';

function setup(): {
  state: ProxyState;
  up: StateUpdater;
  events: { kind: keyof StateEvents; upserted: readonly string[]; removed: readonly string[] }[];
} {
  const state = new ProxyState();
  const up = new StateUpdater(state);
  const events: {
    kind: keyof StateEvents;
    upserted: readonly string[];
    removed: readonly string[];
  }[] = [];
  up.on('workloadsChanged', (e) => events.push({ kind: 'workloadsChanged', ...e }));
  up.on('policiesChanged', (e) => events.push({ kind: 'policiesChanged', ...e }));
  return { state, up, events };
}

test('workloads are indexed by uid, network/IP and hostname, and cleanly replaced', () => {
  const { state, up } = setup();
  const a = makeWorkload({ name: 'a', workloadIps: ['10.0.0.1'], hostname: 'a.example' });
  up.insertWorkload(a);
  assert.equal(state.workloads.get(a.uid), a);
  assert.equal(state.findAddress('', '10.0.0.1')?.kind, 'workload');
  assert.equal(state.findAddress('', '::ffff:10.0.0.1')?.kind, 'workload');
  assert.equal(state.findAddress('other', '10.0.0.1'), undefined);
  assert.deepEqual(state.workloads.findHostname('a.example'), [a]);
  // Re-insert with a new IP: the old alias goes away.
  up.insertWorkload(makeWorkload({ name: 'a', workloadIps: ['10.0.0.2'] }));
  assert.equal(state.findAddress('', '10.0.0.1'), undefined);
  assert.equal(state.findAddress('', '10.0.0.2')?.kind, 'workload');
  assert.deepEqual(state.workloads.findHostname('a.example'), []);
  up.removeAddress(a.uid);
  assert.equal(state.workloads.size, 0);
  assert.equal(state.findAddress('', '10.0.0.2'), undefined);
});

test('address conflicts prefer pods, then HBONE; host-network workloads are not indexed by IP', () => {
  const { state, up } = setup();
  const entry = makeWorkload({
    name: 'se',
    uid: 'Kubernetes/networking.istio.io/ServiceEntry/default/se',
    workloadIps: ['10.0.0.9'],
  });
  const pod = makeWorkload({ name: 'pod', workloadIps: ['10.0.0.9'], protocol: 'TCP' });
  up.insertWorkload(entry);
  up.insertWorkload(pod);
  const hit = state.findAddress('', '10.0.0.9');
  assert.equal(hit?.kind === 'workload' && hit.workload.uid, pod.uid);
  up.removeAddress(pod.uid);
  const after = state.findAddress('', '10.0.0.9');
  assert.equal(after?.kind === 'workload' && after.workload.uid, entry.uid);
  up.insertWorkload(
    makeWorkload({ name: 'h', workloadIps: ['10.0.0.50'], networkMode: 'HostNetwork' }),
  );
  assert.equal(state.findAddress('', '10.0.0.50'), undefined);
});

test('services by key, VIP and hostname; endpoints from workloads in any order', () => {
  const { state, up } = setup();
  const key = 'shop/cart.shop.svc.cluster.local';
  // Workload first: its endpoint waits for the service.
  const w = makeWorkload({
    name: 'cart-0',
    namespace: 'shop',
    workloadIps: ['10.0.0.5'],
    services: new Map([[key, new Map([[80, 9080]])]]),
  });
  up.insertWorkload(w);
  const svc = makeService({
    name: 'cart',
    namespace: 'shop',
    vips: [{ network: '', address: '10.96.0.1' }],
  });
  up.insertService(svc);
  assert.equal(state.services.get(key), svc);
  assert.equal(state.findAddress('', '10.96.0.1')?.kind, 'service');
  assert.equal(
    state.findHostname({ namespace: 'shop', hostname: 'cart.shop.svc.cluster.local' })?.kind,
    'service',
  );
  assert.deepEqual(state.endpointWorkloads(svc), [w]);
  // Service replaced: endpoints survive. Service removed by name: VIP gone.
  up.insertService({ ...svc, vips: [{ network: '', address: '10.96.0.2' }] });
  assert.equal(state.findAddress('', '10.96.0.1'), undefined);
  assert.equal(state.endpointWorkloads(svc).length, 1);
  up.removeAddress(key);
  assert.equal(state.findAddress('', '10.96.0.2'), undefined);
  // Workload no longer lists the service: endpoint gone.
  up.insertService(svc);
  up.insertWorkload({ ...w, services: new Map() });
  assert.deepEqual(state.endpointWorkloads(svc), []);
});

test('hostname lookup prefers the namespace, then canonical', () => {
  const { state, up } = setup();
  const a = makeService({ name: 'x', namespace: 'a', hostname: 'api.example.com' });
  const b = makeService({
    name: 'x',
    namespace: 'b',
    hostname: 'api.example.com',
    canonical: true,
  });
  up.insertService(a);
  up.insertService(b);
  assert.equal(state.services.findHostname('api.example.com', 'a'), a);
  assert.equal(state.services.findHostname('api.example.com', 'zzz'), b);
  assert.equal(state.services.findHostname('api.example.com'), b);
});

test('policiesFor: global + namespace + the selector policies listed on the workload', () => {
  const { state, up } = setup();
  const global = makePolicy({
    name: 'g',
    namespace: 'istio-system',
    scope: 'Global',
    action: 'Deny',
  });
  const nsShop = makePolicy({ name: 'n', namespace: 'shop' });
  const nsOther = makePolicy({ name: 'n', namespace: 'other' });
  const selected = makePolicy({ name: 's', namespace: 'shop', scope: 'WorkloadSelector' });
  const notSelected = makePolicy({ name: 't', namespace: 'shop', scope: 'WorkloadSelector' });
  // A root-namespace policy with NAMESPACE scope only applies to the root namespace.
  const rootNs = makePolicy({ name: 'r', namespace: 'istio-system' });
  for (const p of [global, nsShop, nsOther, selected, notSelected, rootNs]) up.insertPolicy(p);
  const w = makeWorkload({
    name: 'w',
    namespace: 'shop',
    authorizationPolicies: ['shop/s', 'shop/missing'],
  });
  assert.deepEqual(state.policiesFor(w).map(policyKey).sort(), [
    'istio-system/g',
    'shop/n',
    'shop/s',
  ]);
  up.removePolicy('istio-system/g');
  assert.deepEqual(state.policiesFor(w).map(policyKey).sort(), ['shop/n', 'shop/s']);
  // Scope change on update moves the policy between indexes.
  up.insertPolicy({ ...nsShop, scope: 'WorkloadSelector' });
  assert.deepEqual(state.policiesFor(w).map(policyKey), ['shop/s']);
});

test('delta apply: upserts, removals, invalid resources reported and skipped, one event per batch', () => {
  const { state, up, events } = setup();
  const errs = up.applyAddressDelta(
    [
      {
        name: 'Kubernetes//Pod/ns/a',
        resource: create(AddressSchema, {
          type: {
            case: 'workload',
            value: {
              uid: 'Kubernetes//Pod/ns/a',
              namespace: 'ns',
              addresses: [Uint8Array.of(10, 0, 0, 1)],
            },
          },
        }),
      },
      {
        name: 'Kubernetes//Pod/ns/bad',
        resource: create(AddressSchema, {
          type: {
            case: 'workload',
            value: {
              uid: 'Kubernetes//Pod/ns/bad',
              namespace: 'ns',
              addresses: [Uint8Array.of(1)],
            },
          },
        }),
      },
      {
        name: 'ns/svc.example',
        resource: create(AddressSchema, {
          type: { case: 'service', value: { namespace: 'ns', hostname: 'svc.example' } },
        }),
      },
    ],
    ['never-existed'],
  );
  assert.deepEqual(
    errs.map((e) => e.name),
    ['Kubernetes//Pod/ns/bad'],
  );
  assert.match(errs[0]?.error.message ?? '', /addresses\[0\]/);
  assert.equal(state.workloads.size, 1);
  assert.equal(state.services.size, 1);
  assert.deepEqual(events, [
    { kind: 'workloadsChanged', upserted: ['Kubernetes//Pod/ns/a', 'ns/svc.example'], removed: [] },
  ]);
  events.length = 0;
  up.applyAddressDelta([], ['ns/svc.example', 'Kubernetes//Pod/ns/a']);
  assert.equal(state.workloads.size + state.services.size, 0);
  assert.deepEqual(events, [
    { kind: 'workloadsChanged', upserted: [], removed: ['ns/svc.example', 'Kubernetes//Pod/ns/a'] },
  ]);
  events.length = 0;
  // No-op removals emit nothing.
  up.applyAddressDelta([], ['gone']);
  assert.deepEqual(events, []);

  const perrs = up.applyAuthorizationDelta(
    [
      {
        name: 'ns/p',
        resource: create(AuthorizationSchema, {
          name: 'p',
          namespace: 'ns',
          scope: Scope.NAMESPACE,
          action: Action.DENY,
        }),
      },
    ],
    [],
  );
  assert.deepEqual(perrs, []);
  assert.equal(state.policies.get('ns/p')?.action, 'Deny');
  assert.deepEqual(events, [{ kind: 'policiesChanged', upserted: ['ns/p'], removed: [] }]);
});

test('replaceAll swaps the whole state and reports removals', () => {
  const { state, up, events } = setup();
  up.insertWorkload(makeWorkload({ name: 'old' }));
  up.insertPolicy(makePolicy({ name: 'old' }));
  events.length = 0;
  up.replaceAll({ workloads: [makeWorkload({ name: 'new' })], services: [], policies: [] });
  assert.deepEqual(
    [...state.workloads.values()].map((w) => w.name),
    ['new'],
  );
  assert.equal(state.policies.size, 0);
  assert.deepEqual(events, [
    {
      kind: 'workloadsChanged',
      upserted: ['Kubernetes//Pod/default/new'],
      removed: ['Kubernetes//Pod/default/old'],
    },
    { kind: 'policiesChanged', upserted: [], removed: ['default/old'] },
  ]);
});

test('toJSON renders maps and identities', () => {
  const { state, up } = setup();
  up.insertWorkload(
    makeWorkload({ name: 'a', services: new Map([['default/s.example', new Map([[80, 8080]])]]) }),
  );
  up.insertService(makeService({ name: 's', hostname: 's.example', ports: new Map([[80, 8080]]) }));
  const j = JSON.parse(JSON.stringify(state));
  assert.equal(j.workloads[0].identity, 'spiffe://cluster.local/ns/default/sa/default');
  assert.deepEqual(j.workloads[0].services, { 'default/s.example': { '80': 8080 } });
  assert.deepEqual(j.services[0].ports, { '80': 8080 });
  assert.equal(j.services[0].endpoints[0].workloadUid, 'Kubernetes//Pod/default/a');
});
