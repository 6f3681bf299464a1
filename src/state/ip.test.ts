import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytesToIp, formatHostPort, IpNet, ipToBytes, normalizeIp } from './ip.js';

const canonical: [string, string | undefined][] = [
  ['10.1.2.3', '10.1.2.3'],
  ['::1', '::1'],
  ['::', '::'],
  ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'],
  ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
  ['::ffff:10.0.0.1', '10.0.0.1'],
  ['::ffff:a00:1', '10.0.0.1'],
  ['64:ff9b::10.0.0.1', '64:ff9b::a00:1'],
  ['fe80::1%eth0', 'fe80::1'],
  ['10.0.0', undefined],
  ['example.com', undefined],
  ['', undefined],
];

for (const [input, want] of canonical) {
  test(`normalizeIp(${JSON.stringify(input)})`, () => assert.equal(normalizeIp(input), want));
}

test('bytes round-trip and reject bad lengths', () => {
  assert.equal(bytesToIp(Uint8Array.of(127, 0, 0, 1)), '127.0.0.1');
  assert.equal(bytesToIp(new Uint8Array(16)), '::');
  assert.equal(bytesToIp(Uint8Array.of(1, 2, 3)), undefined);
  assert.equal(bytesToIp(new Uint8Array(0)), undefined);
  assert.deepEqual(ipToBytes('fd00::1'), Uint8Array.of(0xfd, 0, ...new Array(13).fill(0), 1));
});

test('formatHostPort brackets IPv6', () => {
  assert.equal(formatHostPort('10.0.0.1', 80), '10.0.0.1:80');
  assert.equal(formatHostPort('fd00::1', 8080), '[fd00::1]:8080');
});

const contains: [string, string, boolean][] = [
  ['10.0.0.0/8', '10.255.1.1', true],
  ['10.0.0.0/8', '11.0.0.1', false],
  ['10.0.0.1', '10.0.0.1', true],
  ['10.0.0.1', '10.0.0.2', false],
  ['10.0.0.0/31', '10.0.0.1', true],
  ['10.0.0.0/31', '10.0.0.2', false],
  ['0.0.0.0/0', '1.2.3.4', true],
  ['0.0.0.0/0', '::1', false],
  ['::/0', '10.0.0.1', false],
  ['fd00::/8', 'fdff::1', true],
  ['fd00::/9', 'fdff::1', false],
  ['fd00::/9', 'fd7f::1', true],
  ['::ffff:10.0.0.0/104', '10.9.9.9', true],
  ['10.0.0.0/8', '::ffff:10.1.1.1', true],
];
for (const [cidr, ip, want] of contains) {
  test(`IpNet ${cidr} contains ${ip}: ${want}`, () => {
    const n = IpNet.parse(cidr);
    assert.ok(n);
    assert.equal(n.contains(ip), want);
  });
}

test('IpNet rejects bad prefixes and addresses', () => {
  for (const bad of ['10.0.0.0/33', 'fd00::/129', '10.0.0.0/-1', '10.0.0.0/', 'x/8', '10.0.0.0/8a'])
    assert.equal(IpNet.parse(bad), undefined, bad);
  assert.equal(IpNet.fromBytes(Uint8Array.of(10, 0, 0, 0), 33), undefined);
  assert.equal(IpNet.fromBytes(Uint8Array.of(10, 0, 0), 8), undefined);
  assert.equal(IpNet.fromBytes(Uint8Array.of(10, 0, 0, 0), 8)?.toString(), '10.0.0.0/8');
});
