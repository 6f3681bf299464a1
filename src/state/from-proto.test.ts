import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { isAmbitError } from '../core/errors.js';
import { Action, AuthorizationSchema, Scope } from '../gen/istio/security/authorization_pb.js';
import {
  AddressSchema,
  LoadBalancing_Mode,
  LoadBalancing_Scope,
  ServiceSchema,
  TunnelProtocol,
  WorkloadSchema,
  WorkloadStatus,
  WorkloadType,
} from '../gen/istio/workload/workload_pb.js';
import { StateErrors } from './errors.js';
import {
  addressFromProto,
  policyFromProto,
  serviceFromProto,
  workloadFromProto,
} from './from-proto.js';

const v4 = (...b: number[]): Uint8Array => Uint8Array.from(b);

test('workload: defaults Istio elides, IPs as text, services map', () => {
  const w = workloadFromProto(
    create(WorkloadSchema, {
      uid: 'Kubernetes//Pod/shop/cart-0',
      name: 'cart-0',
      namespace: 'shop',
      addresses: [v4(10, 0, 0, 5), Uint8Array.from([0xfd, ...new Array(14).fill(0), 5])],
      tunnelProtocol: TunnelProtocol.HBONE,
      workloadType: WorkloadType.POD,
      services: {
        'shop/cart.shop.svc.cluster.local': { ports: [{ servicePort: 80, targetPort: 9080 }] },
      },
      authorizationPolicies: ['shop/sel'],
    }),
  );
  assert.equal(w.trustDomain, 'cluster.local');
  assert.equal(w.serviceAccount, 'default');
  assert.equal(w.clusterId, 'Kubernetes');
  assert.equal(w.capacity, 1);
  assert.equal(w.status, 'Healthy');
  assert.equal(w.protocol, 'HBONE');
  assert.equal(w.workloadType, 'pod');
  assert.equal(w.identity.uri, 'spiffe://cluster.local/ns/shop/sa/default');
  assert.deepEqual(w.workloadIps, ['10.0.0.5', 'fd00::5']);
  assert.equal(w.services.get('shop/cart.shop.svc.cluster.local')?.get(80), 9080);
  assert.deepEqual(w.authorizationPolicies, ['shop/sel']);
  assert.ok(Object.isFrozen(w));
});

test('workload: explicit capacity 0, status, trust domain and waypoint', () => {
  const w = workloadFromProto(
    create(WorkloadSchema, {
      uid: 'u',
      namespace: 'ns',
      trustDomain: 'example.org',
      serviceAccount: 'sa',
      capacity: 0,
      status: WorkloadStatus.UNHEALTHY,
      waypoint: {
        destination: { case: 'address', value: { network: '', address: v4(10, 9, 0, 1) } },
        hboneMtlsPort: 15008,
      },
    }),
  );
  assert.equal(w.capacity, 0);
  assert.equal(w.status, 'Unhealthy');
  assert.equal(w.identity.uri, 'spiffe://example.org/ns/ns/sa/sa');
  assert.deepEqual(w.waypoint, {
    destination: { kind: 'address', network: '', address: '10.9.0.1' },
    hboneMtlsPort: 15008,
  });
});

function throwsNaming(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isAmbitError(err, StateErrors.RESOURCE_INVALID), String(err));
    for (const p of parts) assert.ok(err.message.includes(p), `${err.message} lacks ${p}`);
    return true;
  });
}

test('workload: invalid fields are named', () => {
  throwsNaming(
    () =>
      workloadFromProto(
        create(WorkloadSchema, { uid: 'u1', namespace: 'ns', addresses: [v4(1, 2, 3)] }),
      ),
    'workload "u1"',
    'addresses[0]',
    '3 bytes',
  );
  throwsNaming(
    () =>
      workloadFromProto(
        create(WorkloadSchema, { uid: 'u2', namespace: 'ns', tunnelProtocol: 7 as TunnelProtocol }),
      ),
    'tunnelProtocol',
  );
  throwsNaming(
    () =>
      workloadFromProto(
        create(WorkloadSchema, {
          uid: 'u3',
          namespace: 'ns',
          services: { 'no-slash': { ports: [] } },
        }),
      ),
    'services["no-slash"]',
  );
  throwsNaming(
    () =>
      workloadFromProto(create(WorkloadSchema, { uid: 'u4', namespace: 'ns', trustDomain: 'BAD' })),
    'trustDomain',
  );
  throwsNaming(() => workloadFromProto(create(WorkloadSchema, { namespace: 'ns' })), 'uid');
  throwsNaming(
    () =>
      workloadFromProto(
        create(WorkloadSchema, { uid: 'u5', namespace: 'ns', waypoint: { hboneMtlsPort: 15008 } }),
      ),
    'waypoint',
    'neither address nor hostname',
  );
});

test('service: VIPs, ports, load balancing, errors', () => {
  const s = serviceFromProto(
    create(ServiceSchema, {
      name: 'cart',
      namespace: 'shop',
      hostname: 'cart.shop.svc.cluster.local',
      addresses: [{ network: 'net1', address: v4(10, 96, 0, 10) }],
      ports: [{ servicePort: 80, targetPort: 9080 }],
      subjectAltNames: ['spiffe://cluster.local/ns/shop/sa/cart'],
      loadBalancing: {
        routingPreference: [LoadBalancing_Scope.NETWORK, LoadBalancing_Scope.ZONE],
        mode: LoadBalancing_Mode.FAILOVER,
      },
    }),
  );
  assert.deepEqual(s.vips, [{ network: 'net1', address: '10.96.0.10' }]);
  assert.equal(s.ports.get(80), 9080);
  assert.deepEqual(s.loadBalancer, {
    routingPreferences: ['Network', 'Zone'],
    mode: 'Failover',
    healthPolicy: 'OnlyHealthy',
  });
  assert.equal(s.ipFamilies, undefined);
  assert.equal(s.allowWaypointBypass, undefined);
  const open = serviceFromProto(
    create(ServiceSchema, {
      namespace: 'shop',
      hostname: 'cart.shop.svc.cluster.local',
      extensions: [{ name: 'some.other/extension' }, { name: 'ambit.dev/allow-waypoint-bypass' }],
    }),
  );
  assert.equal(open.allowWaypointBypass, true);
  throwsNaming(
    () =>
      serviceFromProto(
        create(ServiceSchema, {
          namespace: 'shop',
          hostname: 'h',
          addresses: [{ address: v4(1, 2, 3, 4, 5) }],
        }),
      ),
    'service "shop/h"',
    'addresses[0].address',
  );
  throwsNaming(
    () =>
      serviceFromProto(
        create(ServiceSchema, {
          namespace: 'shop',
          hostname: 'h',
          loadBalancing: { routingPreference: [LoadBalancing_Scope.UNSPECIFIED_SCOPE] },
        }),
      ),
    'loadBalancing.routingPreference[0]',
  );
});

test('address oneof', () => {
  const a = addressFromProto(
    create(AddressSchema, {
      type: { case: 'service', value: { namespace: 'n', hostname: 'h' } },
    }),
  );
  assert.equal(a.kind, 'service');
  throwsNaming(() => addressFromProto(create(AddressSchema, {}), 'n/x'), 'address "n/x"');
});

test('policy: rules, string matches, CIDRs, ports, service accounts', () => {
  const p = policyFromProto(
    create(AuthorizationSchema, {
      name: 'p',
      namespace: 'ns',
      scope: Scope.WORKLOAD_SELECTOR,
      action: Action.DENY,
      dryRun: true,
      rules: [
        {
          clauses: [
            {
              matches: [
                {
                  principals: [
                    { matchType: { case: 'exact', value: 'td/ns/a/sa/b' } },
                    { matchType: { case: undefined } },
                  ],
                  notPrincipals: [{ matchType: { case: 'presence', value: {} } }],
                  sourceIps: [{ address: v4(10, 0, 0, 0), length: 8 }],
                  destinationPorts: [8080],
                  serviceAccounts: [{ namespace: 'a', serviceAccount: 'b' }],
                },
              ],
            },
          ],
        },
      ],
    }),
  );
  assert.equal(p.scope, 'WorkloadSelector');
  assert.equal(p.action, 'Deny');
  assert.equal(p.dryRun, true);
  const m = p.rules[0]?.[0]?.[0];
  assert.ok(m);
  // A StringMatch with no type is dropped, as ztunnel does.
  assert.deepEqual(m.principals, [{ exact: 'td/ns/a/sa/b' }]);
  assert.deepEqual(m.notPrincipals, [{ presence: true }]);
  assert.equal(m.sourceIps[0]?.toString(), '10.0.0.0/8');
  assert.deepEqual(m.destinationPorts, [8080]);
  assert.deepEqual(m.serviceAccounts, [{ namespace: 'a', serviceAccount: 'b' }]);
  throwsNaming(
    () =>
      policyFromProto(
        create(AuthorizationSchema, {
          name: 'bad',
          namespace: 'ns',
          rules: [
            {
              clauses: [
                { matches: [{ destinationIps: [{ address: v4(10, 0, 0, 0), length: 40 }] }] },
              ],
            },
          ],
        }),
      ),
    'policy "ns/bad"',
    'rules[0].clauses[0].matches[0].destinationIps[0]',
  );
  throwsNaming(
    () =>
      policyFromProto(
        create(AuthorizationSchema, { name: 'x', namespace: 'ns', action: 9 as Action }),
      ),
    'action',
  );
});
