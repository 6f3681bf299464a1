// The `ambit get workloads|policies|certificates|connections` views on dumps
// captured from two real ztunnels (client on node-0, server on node-1, one
// live connection through both; see testdata/).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { renderTable } from '../cli/output.js';
import {
  certificatesView,
  connectionsView,
  dumpWarnings,
  formatDuration,
  type NodeDump,
  policiesView,
  workloadsView,
  type ZtunnelDump,
} from './ztunnel-config.js';

function load(name: string): ZtunnelDump {
  return JSON.parse(
    readFileSync(new URL(`./testdata/ztunnel-dump-${name}.json`, import.meta.url), 'utf8'),
  ) as ZtunnelDump;
}

const client = load('client');
const server = load('server');
const both: NodeDump[] = [
  { node: 'node-0', netns: 'ambit-r-n0', dump: client },
  { node: 'node-1', netns: 'ambit-r-n1', dump: server },
];
const oneDown: NodeDump[] = [
  { node: 'node-0', netns: 'ambit-r-n0', dump: client },
  { node: 'node-1', netns: 'ambit-r-n1', error: 'connect ECONNREFUSED 127.0.0.1:15000' },
];

describe('workloads', () => {
  test('merged across nodes by uid, sorted, istioctl columns', () => {
    const v = workloadsView(both);
    assert.deepEqual(v.headers, [
      'namespace',
      'pod-name',
      'address',
      'node',
      'waypoint',
      'protocol',
    ]);
    assert.deepEqual(
      v.rows.map((r) => [r[0], r[1], r[3], r[4], r[5]]),
      [
        ['demo', 'client-7d9f-abcde', 'node-0', 'None', 'HBONE'],
        ['demo', 'server-5c8d-fghij', 'node-1', 'None', 'HBONE'],
        ['legacy', 'legacy', 'node-1', 'None', 'TCP'],
      ],
    );
    assert.match(String(v.rows[0]?.[2]), /^127\.\d+\.\d+\.2$/);
  });
  test('-n filters by namespace', () => {
    assert.deepEqual(
      workloadsView(both, 'legacy').rows.map((r) => r[1]),
      ['legacy'],
    );
    assert.equal(workloadsView(both, 'nope').rows.length, 0);
  });
  test('a waypoint shows its service name', () => {
    const w = client.workloads?.[0];
    assert.ok(w);
    const withWp: NodeDump[] = [
      {
        node: 'node-0',
        netns: 'x',
        dump: {
          workloads: [
            {
              ...w,
              waypoint: {
                destination: {
                  kind: 'hostname',
                  namespace: 'demo',
                  hostname: 'wp.demo.svc.cluster.local',
                },
              },
            },
          ],
        },
      },
    ];
    assert.equal(workloadsView(withWp).rows[0]?.[4], 'wp');
  });
  test('a node that did not answer still leaves the others', () => {
    assert.equal(workloadsView(oneDown).rows.length, 3);
  });
});

describe('policies', () => {
  test('merged, namespace/name/action/scope', () => {
    assert.deepEqual(policiesView(both).rows, [
      ['demo', 'allow-client', 'Allow', 'Namespace'],
      ['istio-system', 'peer-authentication-strict', 'Deny', 'Global'],
    ]);
    assert.deepEqual(policiesView(both, 'demo').rows, [
      ['demo', 'allow-client', 'Allow', 'Namespace'],
    ]);
  });
});

describe('certificates', () => {
  const at = Date.parse(client.certificates?.[0]?.notBefore ?? '') + 60_000;
  test('one leaf per node and identity; never key material', () => {
    const v = certificatesView(both, undefined, at);
    assert.deepEqual(
      v.rows.map((r) => r.slice(0, 5)),
      [
        ['node-0', 'spiffe://cluster.local/ns/demo/sa/client', 'Leaf', 'Available', 'true'],
        ['node-1', 'spiffe://cluster.local/ns/demo/sa/server', 'Leaf', 'Available', 'true'],
      ],
    );
    assert.match(String(v.rows[0]?.[5]), /^[0-9a-f]{32}$/);
    assert.equal(v.rows[0]?.[6], client.certificates?.[0]?.notAfter);
    const text = JSON.stringify(v) + renderTable(v.headers, v.rows);
    assert.doesNotMatch(text, /PRIVATE KEY|BEGIN|privateKey|"key"/i);
  });
  test('expired or not yet valid is VALID-CERT false; failing state shows', () => {
    const later = Date.parse(client.certificates?.[0]?.notAfter ?? '') + 1;
    assert.equal(certificatesView(both, undefined, later).rows[0]?.[4], 'false');
    const failing: NodeDump[] = [
      {
        node: 'node-0',
        netns: 'x',
        dump: {
          certificates: [{ identity: 'spiffe://cluster.local/ns/a/sa/b', state: 'initializing' }],
        },
      },
    ];
    assert.deepEqual(certificatesView(failing).rows[0]?.slice(2, 5), [
      'Leaf',
      'Initializing',
      'false',
    ]);
  });
  test('-n filters by the identity namespace', () => {
    assert.equal(certificatesView(both, 'demo').rows.length, 2);
    assert.equal(certificatesView(both, 'legacy').rows.length, 0);
  });
});

describe('connections', () => {
  test('both ends of the one live connection, with identities and bytes', () => {
    const v = connectionsView(both);
    assert.deepEqual(
      v.rows.map((r) => [r[0], r[1], r[4], r[5]]),
      [
        [
          'node-0',
          'outbound',
          'cluster.local/ns/demo/sa/client',
          'cluster.local/ns/demo/sa/server',
        ],
        ['node-1', 'inbound', 'cluster.local/ns/demo/sa/client', 'cluster.local/ns/demo/sa/server'],
      ],
    );
    // Both relays report live byte counts ("hello world" echoed).
    assert.deepEqual(v.rows[0]?.slice(6, 8), [11, 11]);
    assert.deepEqual(v.rows[1]?.slice(6, 8), [11, 11]);
    assert.match(String(v.rows[0]?.[2]), /^127\.\d+\.\d+\.2:\d+$/);
    assert.match(String(v.rows[0]?.[8]), /^\d+ms$/);
    const table = renderTable(v.headers, v.rows);
    assert.match(table, /^NODE\s+DIRECTION\s+SOURCE\s+DESTINATION\s+SOURCE-IDENTITY/);
  });
  test('shared (in-pod) mode: each enrolled pod holds its own connections', () => {
    const shared = (d: ZtunnelDump): ZtunnelDump => ({
      ...d,
      connections: [],
      enrolled: [{ connections: d.connections ?? [] }],
    });
    const v = connectionsView([
      { node: 'node-0', netns: 'ambit-r-n0', dump: shared(client) },
      {
        node: 'node-1',
        netns: 'ambit-r-n1',
        dump: { ...server, connections: [], draining: [{ connections: server.connections ?? [] }] },
      },
    ]);
    assert.deepEqual(
      v.rows.map((r) => [r[0], r[1]]),
      [
        ['node-0', 'outbound'],
        ['node-1', 'inbound'],
      ],
    );
  });
  test('-n matches either identity', () => {
    assert.equal(connectionsView(both, 'demo').rows.length, 2);
    assert.equal(connectionsView(both, 'legacy').rows.length, 0);
  });
  test('durations', () => {
    assert.deepEqual([12, 3_400, 250_000, 7_500_000].map(formatDuration), [
      '12ms',
      '3s',
      '4m10s',
      '2h5m',
    ]);
  });
});

test('one warning line per silent node, naming node, netns and reason', () => {
  assert.deepEqual(dumpWarnings(oneDown), [
    'warning: node-1: ztunnel admin 127.0.0.1:15000 in netns ambit-r-n1 did not answer (connect ECONNREFUSED 127.0.0.1:15000); its data is missing below',
  ]);
  assert.deepEqual(dumpWarnings(both), []);
});
