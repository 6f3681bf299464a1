import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAmbitError } from '../core/errors.js';
import { formatNodeId, nodeMetadata, parseNodeId } from './node.js';

test('parses Istio node ids', () => {
  assert.deepEqual(
    parseNodeId('ztunnel~10.0.0.7~ztunnel-x2f.istio-system~istio-system.svc.cluster.local'),
    {
      type: 'ztunnel',
      ip: '10.0.0.7',
      podName: 'ztunnel-x2f',
      namespace: 'istio-system',
      domain: 'istio-system.svc.cluster.local',
    },
  );
  // Pod names with dots keep everything before the last dot.
  assert.equal(parseNodeId('router~fd00::1~wp.a.b~b.svc.cluster.local').podName, 'wp.a');
});

for (const bad of [
  '',
  'ztunnel~1.2.3.4~pod',
  'proxy~1.2.3.4~p.ns~d',
  'ztunnel~~p.ns~d',
  'ztunnel~1.2.3.4~nodot~d',
]) {
  test(`rejects node id ${JSON.stringify(bad)}`, () => {
    assert.throws(
      () => parseNodeId(bad),
      (e: unknown) => isAmbitError(e, 'AMBIT_XDS_NODE_ID_INVALID'),
    );
  });
}

test('formatNodeId round-trips', () => {
  const id = formatNodeId({
    type: 'ztunnel',
    ip: '10.1.1.1',
    podName: 'zt-1',
    namespace: 'istio-system',
  });
  assert.equal(id, 'ztunnel~10.1.1.1~zt-1.istio-system~istio-system.svc.cluster.local');
  assert.equal(parseNodeId(id).podName, 'zt-1');
});

test('node metadata keeps every key', () => {
  assert.deepEqual(nodeMetadata({ NAME: 'a', NODE_NAME: 'n1', ISTIO_META_X: 1 }), {
    NAME: 'a',
    NODE_NAME: 'n1',
    ISTIO_META_X: 1,
  });
  assert.deepEqual(nodeMetadata(undefined), {});
});
