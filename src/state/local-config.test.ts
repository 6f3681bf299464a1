import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isAmbitError } from '../core/errors.js';
import { StateErrors } from './errors.js';
import { parseLocalConfig } from './local-config.js';
import { ProxyState, StateUpdater } from './proxy-state.js';

const EXAMPLE = `
workloads:
- uid: dev//Pod/shop/cart-0
  name: cart-0
  namespace: shop
  serviceAccount: cart
  workloadIps: ["127.0.0.1"]
  protocol: HBONE
  node: laptop
  services:
    "shop/cart.shop.svc.cluster.local":
      80: 9080
- name: legacy-0
  namespace: shop
  serviceAccount: legacy
  workloadIps: ["127.0.0.3"]
  protocol: TCP
  node: laptop
  waypoint:
    destination: "shop/waypoint.shop.svc.cluster.local"
services:
- name: cart
  namespace: shop
  hostname: cart.shop.svc.cluster.local
  vips: ["/127.10.0.10"]
  ports:
    80: 9080
  loadBalancer:
    routingPreferences: [Node]
    mode: Failover
  allowWaypointBypass: true
policies:
- name: only-frontend
  namespace: shop
  scope: Namespace
  action: Allow
  dryRun: false
  rules:
  - - - principals:
        - exact: cluster.local/ns/shop/sa/frontend
      - notSourceIps: ["10.0.0.0/8", "fd00::1"]
        destinationPorts: [9080]
- name: strict
  namespace: istio-system
  scope: Global
  action: Deny
  rules: [[[{notPrincipals: [{presence: {}}]}]]]
`;

test('parses the documented example into domain objects', () => {
  const s = parseLocalConfig(EXAMPLE);
  assert.equal(s.workloads.length, 2);
  const [cart, legacy] = s.workloads;
  assert.ok(cart && legacy);
  assert.equal(cart.identity.uri, 'spiffe://cluster.local/ns/shop/sa/cart');
  assert.equal(cart.protocol, 'HBONE');
  assert.equal(cart.services.get('shop/cart.shop.svc.cluster.local')?.get(80), 9080);
  assert.equal(legacy.uid, 'Kubernetes//Pod/shop/legacy-0');
  assert.equal(legacy.protocol, 'TCP');
  assert.equal(s.services[0]?.allowWaypointBypass, true);
  assert.deepEqual(legacy.waypoint, {
    destination: {
      kind: 'hostname',
      namespace: 'shop',
      hostname: 'waypoint.shop.svc.cluster.local',
    },
    hboneMtlsPort: 15008,
  });
  const svc = s.services[0];
  assert.deepEqual(svc?.vips, [{ network: '', address: '127.10.0.10' }]);
  assert.equal(svc?.ports.get(80), 9080);
  assert.equal(svc?.loadBalancer?.mode, 'Failover');
  assert.equal(svc?.loadBalancer?.healthPolicy, 'OnlyHealthy');
  const [allow, strict] = s.policies;
  assert.equal(allow?.rules[0]?.[0]?.length, 2);
  assert.deepEqual(allow?.rules[0]?.[0]?.[0]?.principals, [
    { exact: 'cluster.local/ns/shop/sa/frontend' },
  ]);
  assert.deepEqual(allow?.rules[0]?.[0]?.[1]?.notSourceIps.map(String), [
    '10.0.0.0/8',
    'fd00::1/128',
  ]);
  assert.deepEqual(strict?.rules[0]?.[0]?.[0]?.notPrincipals, [{ presence: true }]);

  // And it loads into a ProxyState.
  const state = new ProxyState();
  new StateUpdater(state).replaceAll(s);
  assert.equal(state.findAddress('', '127.10.0.10')?.kind, 'service');
  assert.equal(state.policiesFor(cart).length, 2);
});

test('ztunnel serde spellings are accepted too', () => {
  const s = parseLocalConfig(`
policies:
- name: p
  namespace: ns
  scope: WorkloadSelector
  action: Deny
  rules: [[[{principals: [{Exact: a}, {Prefix: b}, {Suffix: c}, {Presence: []}]}]]]
workloads:
- name: w
  namespace: ns
  waypoint: {destination: "net1/10.0.0.1", hboneMtlsPort: 15009}
`);
  assert.deepEqual(s.policies[0]?.rules[0]?.[0]?.[0]?.principals, [
    { exact: 'a' },
    { prefix: 'b' },
    { suffix: 'c' },
    { presence: true },
  ]);
  assert.deepEqual(s.workloads[0]?.waypoint, {
    destination: { kind: 'address', network: 'net1', address: '10.0.0.1' },
    hboneMtlsPort: 15009,
  });
});

test('empty documents give an empty snapshot', () => {
  assert.deepEqual(parseLocalConfig(''), { workloads: [], services: [], policies: [] });
  assert.deepEqual(parseLocalConfig('workloads: []\n'), {
    workloads: [],
    services: [],
    policies: [],
  });
});

const bad: [string, string, string[]][] = [
  ['unknown top-level key', 'workload: []', ['local config', 'workload']],
  ['not YAML', 'workloads: [', ['local config', 'yaml']],
  [
    'unknown workload key',
    'workloads: [{name: a, namespace: ns, adresses: []}]',
    ['workloads[0] (a)', 'adresses'],
  ],
  [
    'bad workload IP',
    'workloads: [{uid: u1, namespace: ns, workloadIps: ["10.0.0.256"]}]',
    ['workloads[0] (u1)', 'workloadIps.0', '10.0.0.256'],
  ],
  [
    'bad protocol',
    'workloads: [{name: a, namespace: ns, protocol: UDP}]',
    ['workloads[0] (a)', 'protocol'],
  ],
  ['missing namespace', 'workloads: [{name: a}]', ['workloads[0] (a)', 'namespace']],
  [
    'bad service VIP',
    'services: [{namespace: ns, hostname: h, vips: ["10.0.0.1"]}]',
    ['services[0] (ns/h)', 'vips.0', '<network>/<ip>'],
  ],
  [
    'bad port key',
    'services: [{namespace: ns, hostname: h, ports: {http: 80}}]',
    ['services[0] (ns/h)', 'ports.http'],
  ],
  [
    'unknown match key',
    'policies: [{name: p, namespace: ns, scope: Namespace, action: Allow, rules: [[[{principal: []}]]]}]',
    ['policies[0] (ns/p)', 'rules.0.0.0', 'principal'],
  ],
  [
    'bad CIDR',
    'policies: [{name: p, namespace: ns, scope: Namespace, action: Allow, rules: [[[{sourceIps: ["10.0.0.0/40"]}]]]}]',
    ['policies[0] (ns/p)', 'sourceIps.0', '10.0.0.0/40'],
  ],
  [
    'bad string match',
    'policies: [{name: p, namespace: ns, scope: Namespace, action: Allow, rules: [[[{principals: [{regex: x}]}]]]}]',
    ['policies[0] (ns/p)', 'principals.0'],
  ],
  [
    'bad scope',
    'policies: [{name: p, namespace: ns, scope: GLOBAL, action: Allow}]',
    ['policies[0] (ns/p)', 'scope'],
  ],
  [
    'bad trust domain',
    'workloads: [{name: a, namespace: ns, trustDomain: "Bad TD"}]',
    ['workloads[0] (a)', 'trustDomain'],
  ],
];

for (const [name, yaml, parts] of bad) {
  test(`rejects: ${name}`, () => {
    assert.throws(
      () => parseLocalConfig(yaml),
      (err: unknown) => {
        assert.ok(isAmbitError(err, StateErrors.LOCAL_CONFIG_INVALID), String(err));
        for (const p of parts) assert.ok(err.message.includes(p), `"${err.message}" lacks "${p}"`);
        return true;
      },
    );
  });
}

test('the example in docs/state-and-rbac.md parses', () => {
  const doc = readFileSync(new URL('../../docs/state-and-rbac.md', import.meta.url), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block);
  const s = parseLocalConfig(block);
  assert.equal(s.workloads.length, 2);
  assert.equal(s.services[0]?.loadBalancer?.mode, 'Failover');
  assert.equal(s.policies.length, 2);
});
