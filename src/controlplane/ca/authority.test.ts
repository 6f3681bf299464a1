import 'reflect-metadata';
import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { isAmbitError } from '../../core/errors.js';
import { SpiffeId } from '../../identity/index.js';
import { createCsr, parseCertificate, TrustBundle, verifyChain } from '../../tls/index.js';
import {
  CaErrors,
  CertificateAuthority,
  CLOCK_SKEW_GRACE_MS,
  DEFAULT_CERT_TTL_MS,
  MAX_CERT_TTL_MS,
} from './index.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const FRONTEND = SpiffeId.parse('spiffe://cluster.local/ns/shop/sa/frontend');
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-ca-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A CSR built by an independent implementation (@peculiar/x509), for shapes createCsr never makes. */
async function foreignCsr(
  names: { type: 'url' | 'dns' | 'ip' | 'email'; value: string }[],
  extra: x509.Extension[] = [],
): Promise<string> {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const extensions = names.length ? [new x509.SubjectAlternativeNameExtension(names, true)] : [];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: keys as unknown as Parameters<
      typeof x509.Pkcs10CertificateRequestGenerator.create
    >[0]['keys'],
    signingAlgorithm: EC,
    extensions: [...extensions, ...extra],
  });
  return csr.toString('pem');
}

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isAmbitError(err), `expected AmbitError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

test('issued leaf has the Istio / X.509-SVID profile (own parser and @peculiar/x509 agree)', async (t) => {
  const ca = CertificateAuthority.init(tempDir(t));
  const { csrPem } = await createCsr(FRONTEND);
  const before = Date.now();
  const issued = ca.sign(csrPem, { identity: FRONTEND });
  assert.equal(issued.chainPem.length, 2, 'leaf + root');

  const info = parseCertificate(issued.chainPem[0] as string);
  assert.equal(info.subjectDer.toString('hex'), '3000', 'empty subject');
  assert.deepEqual(info.san?.uris, [FRONTEND.uri]);
  assert.equal(info.extensions.get('2.5.29.17')?.critical, true, 'SAN critical');
  assert.deepEqual(info.basicConstraints, { cA: false });
  assert.deepEqual([...(info.keyUsage ?? [])], ['digitalSignature', 'keyEncipherment']);
  assert.equal(info.extensions.get('2.5.29.15')?.critical, true, 'key usage critical');
  assert.deepEqual(info.extKeyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.equal(info.serialHex.length, 32, '128-bit random serial');

  const p = new x509.X509Certificate(issued.chainPem[0] as string);
  assert.equal(p.subject, '');
  const san = p.getExtension(x509.SubjectAlternativeNameExtension);
  assert.ok(san?.critical);
  assert.deepEqual(
    san?.names.items.map((n) => [n.type, n.value]),
    [['url', FRONTEND.uri]],
  );
  assert.equal(p.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  const ku = p.getExtension(x509.KeyUsagesExtension);
  assert.equal(
    ku?.usages,
    x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
  );
  assert.ok(await p.verify({ publicKey: new x509.X509Certificate(ca.trustBundle()[0] as string) }));

  // NotBefore = now − 2 min (whole seconds), NotAfter = now + 24 h.
  const nb = info.notBefore.getTime();
  assert.ok(nb <= before - CLOCK_SKEW_GRACE_MS && nb > before - CLOCK_SKEW_GRACE_MS - 2000);
  const ttl = info.notAfter.getTime() - nb - CLOCK_SKEW_GRACE_MS;
  assert.ok(Math.abs(ttl - DEFAULT_CERT_TTL_MS) <= 2000, `ttl ${ttl}`);
});

test('TTL: ≤0 means default, explicit is honoured, over max is refused, NotAfter clamps to the signer', async (t) => {
  const ca = CertificateAuthority.init(tempDir(t));
  const { csrPem } = await createCsr(FRONTEND);
  const life = (ttlMs?: number): number => {
    const c = ca.sign(
      csrPem,
      ttlMs === undefined ? { identity: FRONTEND } : { identity: FRONTEND, ttlMs },
    );
    return c.notAfter.getTime() - c.notBefore.getTime() - CLOCK_SKEW_GRACE_MS;
  };
  for (const [ttl, want] of [
    [undefined, DEFAULT_CERT_TTL_MS],
    [0, DEFAULT_CERT_TTL_MS],
    [-5, DEFAULT_CERT_TTL_MS],
    [3600_000, 3600_000],
    [MAX_CERT_TTL_MS, MAX_CERT_TTL_MS],
  ] as const) {
    assert.ok(Math.abs(life(ttl) - want) <= 2000, `ttl ${ttl}`);
  }
  assertCode(
    () => ca.sign(csrPem, { identity: FRONTEND, ttlMs: MAX_CERT_TTL_MS + 1000 }),
    CaErrors.TTL_TOO_LONG,
  );

  const shortCa = CertificateAuthority.init(tempDir(t), { rootTtlMs: 3600_000 });
  const c = shortCa.sign(csrPem, { identity: FRONTEND, ttlMs: DEFAULT_CERT_TTL_MS });
  assert.equal(
    c.notAfter.getTime(),
    new Date(shortCa.signer.validTo).getTime(),
    'clamped to root NotAfter',
  );
});

test('malformed and unauthorized CSRs are refused with a code, nothing issued', async (t) => {
  const ca = CertificateAuthority.init(tempDir(t));
  const good = (await createCsr(FRONTEND)).csrPem;
  const der = Buffer.from(good.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  const flipped = Buffer.from(der);
  flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 0x01;
  const pem = (b: Buffer): string =>
    `-----BEGIN CERTIFICATE REQUEST-----\n${b.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  const truncated = der.subarray(0, der.length - 10);
  const wildcard = 'spiffe://*/ns/shop/sa/frontend';
  const cases: [string, string, string][] = [
    ['garbage', 'hello, I am not a CSR', CaErrors.CSR_MALFORMED],
    ['a certificate instead', ca.trustBundle()[0] as string, CaErrors.CSR_MALFORMED],
    [
      'bad base64',
      '-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n',
      CaErrors.CSR_MALFORMED,
    ],
    ['truncated DER', pem(truncated), CaErrors.CSR_MALFORMED],
    ['bad signature', pem(flipped), CaErrors.CSR_SIGNATURE_INVALID],
    ['two CSRs', good + good, CaErrors.CSR_MALFORMED],
    [
      'other identity',
      (await createCsr(SpiffeId.parse('spiffe://cluster.local/ns/shop/sa/admin'))).csrPem,
      CaErrors.CSR_IDENTITY_MISMATCH,
    ],
    [
      'foreign trust domain',
      (await createCsr(SpiffeId.parse('spiffe://evil.example/ns/shop/sa/frontend'))).csrPem,
      CaErrors.CSR_IDENTITY_MISMATCH,
    ],
    [
      'wildcard trust domain',
      await foreignCsr([{ type: 'url', value: wildcard }]),
      CaErrors.CSR_IDENTITY_MISMATCH,
    ],
    ['no SAN', await foreignCsr([]), CaErrors.CSR_SAN_REJECTED],
    [
      'two URI SANs',
      await foreignCsr([
        { type: 'url', value: FRONTEND.uri },
        { type: 'url', value: 'spiffe://cluster.local/ns/shop/sa/admin' },
      ]),
      CaErrors.CSR_SAN_REJECTED,
    ],
    [
      'DNS SAN',
      await foreignCsr([
        { type: 'url', value: FRONTEND.uri },
        { type: 'dns', value: 'frontend.shop.svc' },
      ]),
      CaErrors.CSR_SAN_REJECTED,
    ],
    [
      'IP SAN',
      await foreignCsr([
        { type: 'url', value: FRONTEND.uri },
        { type: 'ip', value: '10.0.0.1' },
      ]),
      CaErrors.CSR_SAN_REJECTED,
    ],
    [
      'email SAN',
      await foreignCsr([
        { type: 'url', value: FRONTEND.uri },
        { type: 'email', value: 'a@b.c' },
      ]),
      CaErrors.CSR_SAN_REJECTED,
    ],
    [
      'CA bit',
      await foreignCsr(
        [{ type: 'url', value: FRONTEND.uri }],
        [new x509.BasicConstraintsExtension(true, undefined, true)],
      ),
      CaErrors.CSR_CA_REQUESTED,
    ],
    [
      'keyCertSign',
      await foreignCsr(
        [{ type: 'url', value: FRONTEND.uri }],
        [new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
      ),
      CaErrors.CSR_CA_REQUESTED,
    ],
  ];
  for (const [name, csr, code] of cases) {
    assert.throws(
      () => ca.sign(csr, { identity: FRONTEND }),
      (err: unknown) => isAmbitError(err) && err.code === code,
      name,
    );
  }
  // The same shapes are accepted when well-formed: the independent CSR works too.
  const ok = ca.sign(await foreignCsr([{ type: 'url', value: FRONTEND.uri }]), {
    identity: FRONTEND,
  });
  assert.equal(parseCertificate(ok.chainPem[0] as string).san?.uris[0], FRONTEND.uri);
  // Authorized identity outside the CA's trust domain.
  const foreign = SpiffeId.parse('spiffe://evil.example/ns/shop/sa/frontend');
  assertCode(() => ca.sign(good, { identity: foreign }), CaErrors.IDENTITY_NOT_ALLOWED);
  assertCode(
    () => ca.sign(good, { identity: SpiffeId.forTrustDomain('cluster.local') }),
    CaErrors.IDENTITY_NOT_ALLOWED,
  );
});

test('init writes the cacerts layout with a 0600 key and refuses to overwrite without force', (t) => {
  const dir = tempDir(t);
  const ca = CertificateAuthority.init(dir, { trustDomain: 'example.org' });
  assert.equal(ca.trustDomain, 'example.org');
  assert.equal(statSync(join(dir, 'ca-key.pem')).mode & 0o777, 0o600);
  for (const f of ['ca-cert.pem', 'root-cert.pem', 'cert-chain.pem']) {
    assert.equal(
      readFileSync(join(dir, f), 'utf8'),
      readFileSync(join(dir, 'ca-cert.pem'), 'utf8'),
      f,
    );
  }
  const root = new X509Certificate(readFileSync(join(dir, 'root-cert.pem')));
  assert.ok(root.ca);
  assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const years = (Date.parse(root.validTo) - Date.parse(root.validFrom)) / (365 * 86_400_000);
  assert.ok(years > 9.9 && years < 10.1, `root lifetime ${years} years`);
  const key = readFileSync(join(dir, 'ca-key.pem'), 'utf8');
  assertCode(() => CertificateAuthority.init(dir), CaErrors.ALREADY_EXISTS);
  assert.equal(readFileSync(join(dir, 'ca-key.pem'), 'utf8'), key, 'key untouched after refusal');
  CertificateAuthority.init(dir, { force: true });
  assert.notEqual(readFileSync(join(dir, 'ca-key.pem'), 'utf8'), key, 'replaced with force');
  assert.equal(statSync(join(dir, 'ca-key.pem')).mode & 0o777, 0o600);
  // The trust domain is read back from the root on load.
  assert.equal(CertificateAuthority.load(dir).trustDomain, 'cluster.local');
});

test('load refuses inconsistent CA files', async (t) => {
  const a = tempDir(t);
  const b = tempDir(t);
  CertificateAuthority.init(a);
  const other = CertificateAuthority.init(b);
  const file = (d: string, f: string): string => readFileSync(join(d, f), 'utf8');

  const missing = tempDir(t);
  writeFileSync(join(missing, 'ca-cert.pem'), file(a, 'ca-cert.pem'));
  assertCode(() => CertificateAuthority.load(missing), CaErrors.FILES_MISSING);

  const mismatch = tempDir(t);
  writeFileSync(join(mismatch, 'ca-cert.pem'), file(a, 'ca-cert.pem'));
  writeFileSync(join(mismatch, 'root-cert.pem'), file(a, 'root-cert.pem'));
  writeFileSync(join(mismatch, 'ca-key.pem'), file(b, 'ca-key.pem'));
  assertCode(() => CertificateAuthority.load(mismatch), CaErrors.FILES_INVALID);

  const unchained = tempDir(t);
  writeFileSync(join(unchained, 'ca-cert.pem'), file(a, 'ca-cert.pem'));
  writeFileSync(join(unchained, 'ca-key.pem'), file(a, 'ca-key.pem'));
  writeFileSync(join(unchained, 'root-cert.pem'), file(b, 'root-cert.pem'));
  assertCode(() => CertificateAuthority.load(unchained), CaErrors.FILES_INVALID);

  // A leaf (not a CA) as ca-cert, with its matching key.
  const { csrPem, keyPem } = await createCsr(FRONTEND);
  const leaf = other.sign(csrPem, { identity: FRONTEND }).chainPem[0] as string;
  const notCa = tempDir(t);
  writeFileSync(join(notCa, 'ca-cert.pem'), leaf);
  writeFileSync(join(notCa, 'ca-key.pem'), keyPem);
  writeFileSync(join(notCa, 'root-cert.pem'), file(b, 'root-cert.pem'));
  assertCode(() => CertificateAuthority.load(notCa), CaErrors.FILES_INVALID);

  const garbage = tempDir(t);
  for (const f of ['ca-cert.pem', 'ca-key.pem', 'root-cert.pem'])
    writeFileSync(join(garbage, f), 'nope');
  assertCode(() => CertificateAuthority.load(garbage), CaErrors.FILES_INVALID);
});

test('root rotation: old leaves verify with the rotated bundle, new leaves chain to the new root', async (t) => {
  const dir = tempDir(t);
  const ca1 = CertificateAuthority.init(dir);
  const { csrPem } = await createCsr(FRONTEND);
  const oldLeaf = ca1.sign(csrPem, { identity: FRONTEND }).chainPem;
  const oldRoot = new X509Certificate(ca1.trustBundle()[0] as string);

  const ca2 = CertificateAuthority.rotateRoot(dir);
  assert.equal(ca2.trustBundle().length, 2);
  const bundle = TrustBundle.fromPem(readFileSync(join(dir, 'root-cert.pem'), 'utf8'));
  assert.equal(bundle.size, 2);
  assert.ok(bundle.has(oldRoot));
  assert.notEqual(ca2.signer.fingerprint256, oldRoot.fingerprint256, 'a new root signs');
  assert.equal(statSync(join(dir, 'ca-key.pem')).mode & 0o777, 0o600);

  assert.equal(
    verifyChain(oldLeaf, bundle).root.fingerprint256,
    oldRoot.fingerprint256,
    'old leaf still verifies',
  );
  const newLeaf = ca2.sign(csrPem, { identity: FRONTEND }).chainPem;
  assert.equal(
    verifyChain(newLeaf, bundle).root.fingerprint256,
    ca2.signer.fingerprint256,
    'new leaf chains to the new root',
  );
  assert.equal(newLeaf.length, 2);

  const ca3 = CertificateAuthority.finishRootRotation(dir);
  assert.equal(ca3.trustBundle().length, 1);
  assert.equal(ca3.signer.fingerprint256, ca2.signer.fingerprint256);
  assertCode(() => verifyChain(oldLeaf, ca3.roots), 'AMBIT_TLS_CERT_UNTRUSTED');
  verifyChain(newLeaf, ca3.roots);
});

test('serving certificate carries DNS/IP SANs and chains to the CA', (t) => {
  const ca = CertificateAuthority.init(tempDir(t));
  const s = ca.issueServingCertificate({
    dnsNames: ['ambit-controlplane.istio-system.svc', 'localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    ttlMs: 3600_000,
  });
  const info = parseCertificate(s.chainPem[0] as string);
  assert.deepEqual(info.san?.dnsNames, ['ambit-controlplane.istio-system.svc', 'localhost']);
  assert.deepEqual(info.san?.ipAddresses, ['127.0.0.1', '::1']);
  assert.deepEqual(info.san?.uris, []);
  assert.equal(info.basicConstraints?.cA, false);
  assert.ok(info.extKeyUsage?.includes('1.3.6.1.5.5.7.3.1'));
  const x = new X509Certificate(s.chainPem[0] as string);
  assert.equal(x.checkHost('localhost'), 'localhost');
  assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
  verifyChain(s.chainPem, ca.roots);
  assert.ok(s.keyPem.includes('PRIVATE KEY'));
  assertCode(() => ca.issueServingCertificate({}), CaErrors.CSR_SAN_REJECTED);
});

test('mutated CSRs and certificates only ever fail with coded errors', async (t) => {
  const ca = CertificateAuthority.init(tempDir(t));
  const { csrPem } = await createCsr(FRONTEND);
  const csrDer = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  const certPem = ca.sign(csrPem, { identity: FRONTEND }).chainPem[0] as string;
  const certDer = new X509Certificate(certPem).raw;
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const mutate = (b: Buffer): Buffer => {
    const m = Buffer.from(b);
    for (let i = 0, n = 1 + rand(3); i < n; i++) m[rand(m.length)] = rand(256);
    return rand(5) === 0 ? m.subarray(0, rand(m.length)) : m;
  };
  const pemOf = (b: Buffer, label: string): string =>
    `-----BEGIN ${label}-----\n${b.toString('base64')}\n-----END ${label}-----\n`;
  let refused = 0;
  for (let i = 0; i < 400; i++) {
    try {
      const issued = ca.sign(pemOf(mutate(csrDer), 'CERTIFICATE REQUEST'), { identity: FRONTEND });
      assert.equal(parseCertificate(issued.chainPem[0] as string).san?.uris[0], FRONTEND.uri);
    } catch (err) {
      assert.ok(isAmbitError(err) && err.code.startsWith('AMBIT_CA_CSR_'), String(err));
      refused++;
    }
    try {
      parseCertificate(mutate(certDer));
    } catch (err) {
      assert.ok(isAmbitError(err) && err.code === 'AMBIT_TLS_CERT_INVALID', String(err));
    }
  }
  assert.ok(refused > 350, `only ${refused} of 400 mutated CSRs were refused`);
});
