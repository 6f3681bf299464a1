import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAmbitError } from '../core/errors.js';
import { parseZtunnelConfig } from './ztunnel.js';

test('defaults match Istio ztunnel', () => {
  const c = parseZtunnelConfig({});
  assert.equal(c.proxyMode, 'shared');
  assert.equal(c.poolMaxStreamsPerConnection, 100);
  assert.equal(c.poolUnusedReleaseTimeoutMs, 300_000);
  assert.equal(c.http2StreamWindowSize, 4 * 1024 * 1024);
  assert.equal(c.http2ConnectionWindowSize, 16 * 1024 * 1024);
  assert.equal(c.http2FrameSize, 1024 * 1024);
  assert.equal(c.packetMark, 0x539);
  assert.equal(c.secretTtlMs, 86_400_000);
  assert.equal(c.workloadWaitTimeoutMs, 5000);
  assert.equal(c.adminAddress.host, '127.0.0.1');
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.adminAddress));
});

test("Istio's env names are honoured and flags override them", () => {
  const c = parseZtunnelConfig(
    {
      PROXY_MODE: 'dedicated',
      PROXY_WORKLOAD_INFO: 'shop/frontend-0/frontend',
      XDS_ADDRESS: 'https://127.0.0.1:15012',
      POOL_MAX_STREAMS_PER_CONNECTION: '50',
      SECRET_TTL: '12h',
      UNSTABLE_ENABLE_SOCKS5: 'true',
      TERMINATION_GRACE_PERIOD_SECONDS: '30',
    },
    { nodeName: 'node-1' },
  );
  assert.equal(c.proxyMode, 'dedicated');
  assert.deepEqual(c.proxyWorkloadInfo, {
    namespace: 'shop',
    name: 'frontend-0',
    serviceAccount: 'frontend',
  });
  assert.equal(c.caAddress, 'https://127.0.0.1:15012', 'CA address defaults to the xDS address');
  assert.equal(c.poolMaxStreamsPerConnection, 50);
  assert.equal(c.secretTtlMs, 43_200_000);
  assert.equal(c.enableSocks5, true);
  assert.equal(c.terminationDeadlineMs, 30_000);
  assert.equal(c.nodeName, 'node-1');
});

test('invalid values fail with the variable name and reason', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ POOL_MAX_STREAMS_PER_CONNECTION: 'lots' }, /POOL_MAX_STREAMS_PER_CONNECTION.*integer/],
    [{ PROXY_MODE: 'sidecar' }, /PROXY_MODE.*shared, dedicated/],
    [{ SECRET_TTL: 'forever' }, /SECRET_TTL/],
    [{ PROXY_MODE: 'dedicated' }, /dedicated mode needs/],
    [{ PROXY_WORKLOAD_INFO: 'shop/frontend' }, /namespace\/pod\/serviceAccount/],
    [{ LOCAL_XDS_PATH: '/a', LOCAL_XDS: 'workloads: []' }, /mutually exclusive/],
    [{ UNSTABLE_ENABLE_SOCKS5: 'maybe' }, /true or false/],
  ];
  for (const [env, re] of cases) {
    assert.throws(
      () => parseZtunnelConfig(env),
      (e) => isAmbitError(e, 'AMBIT_CONFIG_INVALID') && re.test(e.message),
      JSON.stringify(env),
    );
  }
});
