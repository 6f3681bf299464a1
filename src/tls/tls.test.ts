import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createPrivateKey, webcrypto } from 'node:crypto';
import { test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { isAmbitError } from '../core/errors.js';
import { SpiffeId } from '../identity/index.js';
import {
  checkExpectedIdentity,
  checkTrustDomain,
  createCsr,
  der,
  splitPemCertificates,
  TlsErrors,
} from './index.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const id = (s: string): SpiffeId => SpiffeId.parse(s);

test('DER: OIDs, times and named bits round-trip', () => {
  for (const o of [
    '1.2.840.10045.4.3.2',
    '2.5.29.17',
    '1.3.6.1.5.5.7.3.1',
    '2.999.3',
    '1.2.840.113549.1.9.14',
  ]) {
    const enc = der.oid(o);
    assert.equal(der.decodeOid(der.contentOf(enc, der.readRoot(enc, der.Tag.OID))), o);
  }
  for (const [iso, tag] of [
    ['2049-12-31T23:59:59.000Z', der.Tag.UTC_TIME],
    ['2050-01-01T00:00:00.000Z', der.Tag.GENERALIZED_TIME],
    ['1999-06-01T12:00:01.000Z', der.Tag.UTC_TIME],
  ] as const) {
    const enc = der.time(new Date(iso));
    const t = der.readRoot(enc);
    assert.equal(t.tag, tag, iso);
    assert.equal(der.decodeTime(enc, t).toISOString(), iso);
  }
  const ku = der.namedBits([0, 2]);
  assert.equal(ku.toString('hex'), '030205a0', 'digitalSignature|keyEncipherment as Go encodes it');
  assert.deepEqual([...der.decodeNamedBits(der.contentOf(ku, der.readRoot(ku)))], [0, 2]);
  assert.deepEqual(der.uint(Buffer.from([0x80])), Buffer.from([2, 2, 0, 0x80]));
});

test('DER reader rejects non-DER input', () => {
  for (const [name, hex] of [
    ['truncated', '3005020101'],
    ['indefinite length', '3080020101 0000'],
    ['non-minimal length', '30810102'],
    ['trailing bytes', '300000'],
    ['multi-byte tag', '1f8101 00'],
  ] as const) {
    assert.throws(
      () => der.readRoot(Buffer.from(hex.replace(/ /g, ''), 'hex')),
      der.DerError,
      name,
    );
  }
});

test('PEM: bundles split in order, junk rejected with a code', () => {
  const a = '-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n';
  const b = '-----BEGIN CERTIFICATE-----\nBAUG\n-----END CERTIFICATE-----\n';
  assert.deepEqual(splitPemCertificates(`# comment\n${a}junk\n${b}`), [a, b]);
  for (const bad of [
    '',
    'no pem here',
    '-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n',
  ]) {
    assert.throws(
      () => splitPemCertificates(bad),
      (e: unknown) => isAmbitError(e, TlsErrors.PEM_INVALID),
    );
  }
});

test('createCsr: P-256/SHA-256, empty subject, one critical URI SAN (checked by @peculiar/x509)', async () => {
  const want = id('spiffe://cluster.local/ns/istio-system/sa/ztunnel');
  const { csrPem, keyPem } = await createCsr(want);
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  assert.ok(await csr.verify(), 'self-signature verifies');
  assert.equal(csr.subject, '');
  assert.deepEqual(JSON.parse(JSON.stringify(csr.signatureAlgorithm)), {
    name: 'ECDSA',
    hash: { name: 'SHA-256' },
  });
  assert.deepEqual(JSON.parse(JSON.stringify(csr.publicKey.algorithm)), {
    name: 'ECDSA',
    namedCurve: 'P-256',
  });
  const ext = csr.getExtension('2.5.29.17');
  assert.ok(ext?.critical);
  const san = new x509.SubjectAlternativeNameExtension(ext.rawData);
  assert.deepEqual(
    san.names.items.map((n) => [n.type, n.value]),
    [['url', want.uri]],
  );
  assert.equal(csr.extensions.length, 1, 'no other extensions');
  const key = createPrivateKey(keyPem);
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const again = await createCsr(want);
  assert.notEqual(again.keyPem, keyPem, 'a fresh key every time');
});

test('identity checks: expected list (client side) and trust domain (server side)', () => {
  const catalog = id('spiffe://cluster.local/ns/shop/sa/catalog');
  const cases: [SpiffeId, SpiffeId[], boolean][] = [
    [catalog, [catalog], true],
    [catalog, [id('spiffe://cluster.local/ns/shop/sa/frontend'), catalog], true],
    [catalog, [id('spiffe://cluster.local/ns/shop/sa/frontend')], false],
    [catalog, [id('spiffe://other.td/ns/shop/sa/catalog')], false],
    [catalog, [], false],
  ];
  for (const [peer, expected, ok] of cases) {
    const run = (): void => checkExpectedIdentity(peer, expected);
    if (ok) run();
    else assert.throws(run, (e: unknown) => isAmbitError(e, TlsErrors.PEER_IDENTITY_MISMATCH));
  }
  checkTrustDomain(catalog, 'cluster.local');
  assert.throws(
    () => checkTrustDomain(catalog, 'example.org'),
    (e: unknown) => isAmbitError(e, TlsErrors.TRUST_DOMAIN_MISMATCH),
  );
});
