import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIp, formatAuthority, parseAuthority, sameIp } from './address.js';
import { DEFAULT_HBONE_SETTINGS, resolveHboneSettings } from './settings.js';

test('parseAuthority: the forms ztunnel accepts and rejects', () => {
  const cases: [string | undefined, ReturnType<typeof parseAuthority>][] = [
    ['10.0.0.2:8080', { kind: 'ip', ip: '10.0.0.2', port: 8080 }],
    ['[fd00::1]:80', { kind: 'ip', ip: 'fd00::1', port: 80 }],
    ['[FD00:0:0::1]:80', { kind: 'ip', ip: 'fd00::1', port: 80 }],
    ['[::ffff:10.1.2.3]:80', { kind: 'ip', ip: '10.1.2.3', port: 80 }],
    [
      'reviews.default.svc.cluster.local:9080',
      { kind: 'hostname', hostname: 'reviews.default.svc.cluster.local', port: 9080 },
    ],
    ['Reviews.Default:1', { kind: 'hostname', hostname: 'reviews.default', port: 1 }],
    [undefined, undefined],
    ['', undefined],
    ['10.0.0.2', undefined],
    ['10.0.0.2:', undefined],
    ['10.0.0.2:0', undefined],
    ['10.0.0.2:65536', undefined],
    ['10.0.0.2:80x', undefined],
    ['fd00::1:80', undefined],
    ['[fd00::1]80', undefined],
    ['[10.0.0.2]:80', undefined],
    ['under_score.svc:80', undefined],
    [':80', undefined],
  ];
  for (const [input, want] of cases) assert.deepEqual(parseAuthority(input), want, String(input));
});

test('formatAuthority brackets IPv6 only', () => {
  assert.equal(formatAuthority('10.0.0.2', 15008), '10.0.0.2:15008');
  assert.equal(formatAuthority('fd00::1', 15008), '[fd00::1]:15008');
});

test('canonicalIp / sameIp ignore representation', () => {
  assert.equal(canonicalIp('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(canonicalIp('FD00:0000::0001'), 'fd00::1');
  assert.ok(sameIp('::FFFF:10.0.0.1', '10.0.0.1'));
  assert.ok(!sameIp('10.0.0.1', '10.0.0.2'));
});

test('resolveHboneSettings: Istio defaults, overrides, clamped to HTTP/2 limits', () => {
  assert.deepEqual(resolveHboneSettings(), DEFAULT_HBONE_SETTINGS);
  assert.equal(DEFAULT_HBONE_SETTINGS.streamWindowBytes, 4 * 1024 * 1024);
  assert.equal(DEFAULT_HBONE_SETTINGS.connectionWindowBytes, 16 * 1024 * 1024);
  assert.equal(DEFAULT_HBONE_SETTINGS.maxFrameBytes, 1024 * 1024);
  const s = resolveHboneSettings({
    streamWindowBytes: 2 ** 40,
    maxFrameBytes: 1,
    pingIntervalMs: 0,
  });
  assert.equal(s.streamWindowBytes, 2 ** 31 - 1);
  assert.equal(s.maxFrameBytes, 16 * 1024);
  assert.equal(s.pingIntervalMs, 0);
  assert.ok(Object.isFrozen(s));
});
