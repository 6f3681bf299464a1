import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyState, StateUpdater } from './proxy-state.js';
import { makeService, makeWorkload } from './testing.js';
import type { LoadBalancer, Service, Workload } from './types.js';

const KEY = 'default/svc.default.svc.cluster.local';

function world(
  eps: Partial<Workload>[],
  svc: Partial<Service> = {},
): { state: ProxyState; service: Service } {
  const state = new ProxyState();
  const up = new StateUpdater(state);
  const service = makeService({ name: 'svc', ports: new Map([[80, 8080]]), ...svc });
  up.insertService(service);
  for (const [i, e] of eps.entries()) {
    up.insertWorkload(
      makeWorkload({
        name: `ep${i}`,
        workloadIps: [`10.0.0.${i + 1}`],
        services: new Map([[KEY, new Map()]]),
        ...e,
      }),
    );
  }
  return { state, service };
}

const source = makeWorkload({
  name: 'src',
  node: 'n1',
  network: '',
  clusterId: 'c1',
  locality: { region: 'r1', zone: 'z1', subzone: 's1' },
});

/** Names picked over `n` evenly spread random draws. */
function picks(state: ProxyState, service: Service, n = 20, port = 80): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < n; i++) {
    const sel = state.selectEndpoint(service, port, source, { random: () => i / n });
    if (sel) out.add(sel.workload.name);
  }
  return out;
}

test('healthy endpoints only, unless the health policy is AllowAll', () => {
  const eps = [{ status: 'Unhealthy' as const }, {}];
  let w = world(eps);
  assert.deepEqual(picks(w.state, w.service), new Set(['ep1']));
  const allowAll: LoadBalancer = {
    routingPreferences: [],
    mode: 'Standard',
    healthPolicy: 'AllowAll',
  };
  w = world(eps, { loadBalancer: allowAll });
  assert.deepEqual(picks(w.state, w.service), new Set(['ep0', 'ep1']));
  w = world([{ status: 'Unhealthy' }]);
  assert.equal(w.state.selectEndpoint(w.service, 80, source), undefined);
});

test('capacity weights the random choice; capacity 0 is never picked', () => {
  const { state, service } = world([{ capacity: 3 }, { capacity: 1 }, { capacity: 0 }]);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 40; i++) {
    const sel = state.selectEndpoint(service, 80, source, { random: () => i / 40 });
    const n = sel?.workload.name ?? 'none';
    counts[n] = (counts[n] ?? 0) + 1;
  }
  assert.deepEqual(counts, { ep0: 30, ep1: 10 });
  const zero = world([{ capacity: 0 }]);
  assert.equal(zero.state.selectEndpoint(zero.service, 80, source), undefined);
});

test('target port: workload mapping wins, else the service target port', () => {
  const { state, service } = world([{ services: new Map([[KEY, new Map([[80, 9999]])]]) }]);
  assert.equal(state.selectEndpoint(service, 80, source)?.targetPort, 9999);
  const plain = world([{}]);
  assert.equal(plain.state.selectEndpoint(plain.service, 80, source)?.targetPort, 8080);
  // Unknown service port: nothing.
  assert.equal(plain.state.selectEndpoint(plain.service, 81, source), undefined);
  // Service target 0 (named port): only endpoints that map it qualify.
  const named = world([{}, { services: new Map([[KEY, new Map([[80, 7070]])]]) }], {
    ports: new Map([[80, 0]]),
  });
  assert.deepEqual(picks(named.state, named.service), new Set(['ep1']));
  assert.equal(named.state.selectEndpoint(named.service, 80, source)?.targetPort, 7070);
});

test('endpoints without an address are skipped on the same network', () => {
  const { state, service } = world([{ workloadIps: [] }, {}]);
  assert.deepEqual(picks(state, service), new Set(['ep1']));
});

const pref = (
  mode: LoadBalancer['mode'],
  ...scopes: LoadBalancer['routingPreferences']
): Partial<Service> => ({
  loadBalancer: { routingPreferences: scopes, mode, healthPolicy: 'OnlyHealthy' },
});
const loc = (region: string, zone: string, node = ''): Partial<Workload> => ({
  locality: { region, zone, subzone: '' },
  node,
  clusterId: 'c1',
});

// [name, endpoints, service lb, expected picks]
const locality: [string, Partial<Workload>[], Partial<Service>, string[]][] = [
  [
    'Standard ignores locality',
    [loc('r2', 'z2'), loc('r1', 'z1')],
    pref('Standard', 'Region'),
    ['ep0', 'ep1'],
  ],
  [
    'Failover prefers the best rank',
    [loc('r2', 'z2'), loc('r1', 'z9'), loc('r1', 'z1')],
    pref('Failover', 'Region', 'Zone'),
    ['ep2'],
  ],
  [
    'Failover falls back to a partial match',
    [loc('r2', 'z2'), loc('r1', 'z9')],
    pref('Failover', 'Region', 'Zone'),
    ['ep1'],
  ],
  [
    'Failover falls back to anything',
    [loc('r2', 'z2'), loc('r3', 'z3')],
    pref('Failover', 'Region', 'Zone'),
    ['ep0', 'ep1'],
  ],
  // Rank counts leading matches only: zone matching without region counts 0.
  [
    'ranks are prefixes',
    [loc('r2', 'z1'), loc('r3', 'z3')],
    pref('Failover', 'Region', 'Zone'),
    ['ep0', 'ep1'],
  ],
  [
    'Strict requires every scope',
    [loc('r1', 'z9'), loc('r1', 'z1')],
    pref('Strict', 'Region', 'Zone'),
    ['ep1'],
  ],
  [
    'Strict with no match picks nothing',
    [loc('r1', 'z9'), loc('r2', 'z1')],
    pref('Strict', 'Region', 'Zone'),
    [],
  ],
  ['Node scope', [loc('r1', 'z1', 'n2'), loc('r1', 'z1', 'n1')], pref('Strict', 'Node'), ['ep1']],
  ['Cluster scope', [{ clusterId: 'c2' }, { clusterId: 'c1' }], pref('Strict', 'Cluster'), ['ep1']],
];
for (const [name, eps, svc, want] of locality) {
  test(`locality: ${name}`, () => {
    const { state, service } = world(eps, svc);
    assert.deepEqual(picks(state, service), new Set(want));
  });
}

test('waypoint mode: application-tunnel workloads need not list the port', () => {
  const { state, service } = world([{ applicationTunnel: { protocol: 'NONE', port: 15088 } }, {}], {
    ports: new Map(),
  });
  assert.equal(state.selectEndpoint(service, 15008, source), undefined);
  const sel = state.selectEndpoint(service, 15008, source, { mode: 'waypoint' });
  assert.equal(sel?.workload.name, 'ep0');
  assert.equal(sel?.targetPort, 15008);
});
