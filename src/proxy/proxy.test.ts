import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { AmbitError } from '../core/errors.js';
import { SpiffeId } from '../identity/index.js';
import { makeMatch, makePolicy, makeWorkload, ProxyState, StateUpdater } from '../state/index.js';
import { TlsErrors } from '../tls/index.js';
import { ConnectionManager } from './connection-manager.js';
import { ConnectionResult } from './connection-result.js';
import { ProxyErrors } from './errors.js';
import { HboneErrors } from './hbone/index.js';
import { ProxyMetrics, TRAFFIC_LABELS, trafficLabels } from './metrics.js';
import { responseFlagFor } from './outbound.js';

test('traffic labels: full Istio set, unknown for missing values', () => {
  const l = trafficLabels({
    reporter: 'destination',
    source: { principal: 'spiffe://cluster.local/ns/a/sa/b' },
    destination: { workload: 'server', namespace: 'demo' },
    mtls: true,
    responseFlags: 'DENY',
  });
  assert.deepEqual(Object.keys(l), [...TRAFFIC_LABELS]);
  assert.equal(l.source_workload, 'unknown');
  assert.equal(l.source_principal, 'spiffe://cluster.local/ns/a/sa/b');
  assert.equal(l.destination_service, 'unknown');
  assert.equal(l.destination_workload, 'server');
  assert.equal(l.connection_security_policy, 'mutual_tls');
  assert.equal(l.response_flags, 'DENY');
  assert.equal(l.request_protocol, 'tcp');
  const plain = trafficLabels({
    reporter: 'source',
    source: {},
    destination: {},
    mtls: false,
    responseFlags: '-',
  });
  assert.equal(plain.connection_security_policy, 'unknown');
});

test('response flags for each failure', () => {
  const cases: [unknown, string][] = [
    [new AmbitError(ProxyErrors.DENIED, 'x'), 'DENY'],
    [new AmbitError(HboneErrors.CONNECT_REJECTED, 'x', { details: { status: 401 } }), 'DENY'],
    [new AmbitError(HboneErrors.CONNECT_REJECTED, 'x', { details: { status: 503 } }), 'CONNECT'],
    [new AmbitError(HboneErrors.TLS_HANDSHAKE, 'x'), 'TLS_FAILURE'],
    [new AmbitError(HboneErrors.H2_HANDSHAKE, 'x'), 'H2_HANDSHAKE_FAILURE'],
    [new AmbitError(TlsErrors.PEER_IDENTITY_MISMATCH, 'x'), 'IDENTITY_ERROR'],
    [new AmbitError(TlsErrors.TRUST_DOMAIN_MISMATCH, 'x'), 'IDENTITY_ERROR'],
    [
      new AmbitError(HboneErrors.CONNECT_TIMEOUT, 'x', { details: { phase: 'tcp' } }),
      'NETWORK_POLICY',
    ],
    [new AmbitError(HboneErrors.CONNECT_TIMEOUT, 'x', { details: { phase: 'tls' } }), 'CONNECT'],
    [new Error('boom'), 'CONNECT'],
  ];
  for (const [err, flag] of cases) assert.equal(responseFlagFor(err), flag, String(err));
});

test('a connection result counts opened and closed once, whatever the exit path', async () => {
  const registry = new Registry();
  const metrics = new ProxyMetrics(registry, { tag: 't', component: 'ztunnel' });
  const r = new ConnectionResult(metrics, 'source', '10.0.0.1:1234');
  r.finish({ error: new Error('refused') });
  r.finish({ bytesSent: 10 });
  const done = new ConnectionResult(metrics, 'source', '10.0.0.1:1235');
  done.opened();
  done.finish({ bytesSent: 5, bytesRecv: 7 });
  const text = await registry.metrics();
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  assert.equal(sum('istio_tcp_connections_opened_total'), 2);
  assert.equal(sum('istio_tcp_connections_closed_total'), 2);
  assert.equal(sum('istio_tcp_connections_failed_total'), 1);
  // reporter=source keeps Istio's flip: sent = client → server.
  assert.equal(sum('istio_tcp_sent_bytes_total'), 5);
  assert.equal(sum('istio_tcp_received_bytes_total'), 7);
  assert.match(text, /istio_tcp_sockets_open\{reporter="source"\} 0/);
});

test('a policy change closes exactly the connections it now denies', () => {
  const state = new ProxyState();
  const updater = new StateUpdater(state);
  const dst = makeWorkload({ name: 'server', namespace: 'demo', workloadIps: ['10.0.0.2'] });
  updater.insertWorkload(dst);
  const manager = new ConnectionManager();
  const closed: string[] = [];
  const track = (sa: string) =>
    manager.register({
      direction: 'inbound',
      description: sa,
      rbac: {
        srcIp: '10.0.0.1',
        srcIdentity: SpiffeId.forWorkload('cluster.local', 'demo', sa),
        dstIp: '10.0.0.2',
        dstPort: 80,
        dstWorkloadUid: dst.uid,
      },
      close: (reason) => {
        assert.equal((reason as AmbitError).code, ProxyErrors.POLICY_CLOSED);
        closed.push(sa);
      },
    });
  track('good');
  track('bad');
  assert.equal(manager.recheck(state), 0);
  updater.insertPolicy(
    makePolicy({
      name: 'only-good',
      namespace: 'demo',
      scope: 'Namespace',
      action: 'Allow',
      rules: [[[makeMatch({ principals: [{ exact: 'cluster.local/ns/demo/sa/good' }] })]]],
    }),
  );
  assert.equal(manager.recheck(state), 1);
  assert.deepEqual(closed, ['bad']);
});
