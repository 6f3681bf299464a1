/**
 * The PKI end to end with real tools: certificates from CertificateAuthority
 * checked by the openssl CLI, plug-in intermediates made by openssl, and
 * TLS 1.3 mutual handshakes on loopback using WorkloadCertificate.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { CertificateAuthority } from '../../src/controlplane/ca/index.js';
import { isAmbitError } from '../../src/core/errors.js';
import { SpiffeId } from '../../src/identity/index.js';
import {
  createCsr,
  peerIdentity,
  TlsErrors,
  TrustBundle,
  verifyChain,
  verifyPeer,
  WorkloadCertificate,
} from '../../src/tls/index.js';
import {
  handshake,
  makeCompanyPluginCa,
  mustOpenssl,
  openssl,
  tempDir,
  writeOpensslConfig,
} from './pki-helpers.js';

const FRONTEND = SpiffeId.parse('spiffe://cluster.local/ns/shop/sa/frontend');
const CATALOG = SpiffeId.parse('spiffe://cluster.local/ns/shop/sa/catalog');

async function workload(
  ca: CertificateAuthority,
  id: SpiffeId,
  ttlMs?: number,
): Promise<WorkloadCertificate> {
  const { csrPem, keyPem } = await createCsr(id);
  const { chainPem } = ca.sign(
    csrPem,
    ttlMs === undefined ? { identity: id } : { identity: id, ttlMs },
  );
  return WorkloadCertificate.create({
    chainPem,
    keyPem,
    roots: ca.trustBundle(),
    expectedIdentity: id,
  });
}

function codeOf(v: unknown): string | undefined {
  return isAmbitError(v) ? v.code : undefined;
}

test('openssl x509 -text shows the Istio leaf profile; openssl verify passes (self-signed CA)', async (t) => {
  const dir = tempDir(t);
  const ca = CertificateAuthority.init(join(dir, 'ca'));
  const wc = await workload(ca, FRONTEND);
  writeFileSync(join(dir, 'chain.pem'), wc.chain.join(''));
  const text = mustOpenssl(['x509', '-in', join(dir, 'chain.pem'), '-noout', '-text']);
  assert.match(text, /Subject: *\n/, 'empty subject');
  assert.match(
    text,
    /X509v3 Subject Alternative Name: critical\n\s+URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/frontend\n/,
  );
  assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
  assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
  assert.match(
    text,
    /X509v3 Extended Key Usage: *\n\s+TLS Web Server Authentication, TLS Web Client Authentication/,
  );
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /ASN1 OID: prime256v1/);
  assert.doesNotMatch(text, /DNS:|IP Address:|email:/);
  const v = mustOpenssl([
    'verify',
    '-CAfile',
    join(dir, 'ca', 'root-cert.pem'),
    join(dir, 'chain.pem'),
  ]);
  assert.match(v, /: OK/);
  // openssl's own strict X.509 checks (purpose sslclient/sslserver) pass too.
  for (const purpose of ['sslclient', 'sslserver']) {
    mustOpenssl([
      'verify',
      '-purpose',
      purpose,
      '-x509_strict',
      '-CAfile',
      join(dir, 'ca', 'root-cert.pem'),
      join(dir, 'chain.pem'),
    ]);
  }
});

test('plug-in CA: an intermediate under an openssl-made company root issues certs openssl verifies', async (t) => {
  const dir = tempDir(t);
  makeCompanyPluginCa(dir);
  const ca = CertificateAuthority.load(dir);
  assert.equal(ca.isSelfSigned, false);
  assert.equal(ca.trustDomain, 'cluster.local', 'default when the intermediate has no SPIFFE ID');
  const { csrPem } = await createCsr(FRONTEND);
  const { chainPem } = ca.sign(csrPem, { identity: FRONTEND });
  assert.equal(chainPem.length, 3, 'leaf, intermediate, company root');
  assert.equal(chainPem[1], readFileSync(join(dir, 'ca-cert.pem'), 'utf8'));
  assert.equal(chainPem[2], readFileSync(join(dir, 'root-cert.pem'), 'utf8'));
  writeFileSync(join(dir, 'leaf-chain.pem'), chainPem.join(''));
  const v = mustOpenssl(
    ['verify', '-CAfile', 'root-cert.pem', '-untrusted', 'leaf-chain.pem', 'leaf-chain.pem'],
    dir,
  );
  assert.match(v, /leaf-chain\.pem: OK/);
  // Without the intermediate, the company root alone does not verify the leaf: the chain matters.
  writeFileSync(join(dir, 'leaf.pem'), chainPem[0] as string);
  assert.notEqual(openssl(['verify', '-CAfile', 'root-cert.pem', 'leaf.pem'], dir).status, 0);
  assert.equal(verifyChain(chainPem, ca.roots).path.length, 3);
  // A plug-in CA's root is not ours to rotate.
  assert.throws(
    () => CertificateAuthority.rotateRoot(dir),
    (e: unknown) => codeOf(e) === 'AMBIT_CA_ROTATE_UNSUPPORTED',
  );
});

for (const kind of ['self-signed', 'plug-in'] as const) {
  test(`TLS 1.3 mutual handshake reads both SPIFFE IDs (${kind} CA)`, async (t) => {
    const dir = tempDir(t);
    let ca: CertificateAuthority;
    if (kind === 'plug-in') {
      makeCompanyPluginCa(dir);
      ca = CertificateAuthority.load(dir);
    } else {
      ca = CertificateAuthority.init(dir);
    }
    const catalog = await workload(ca, CATALOG);
    const frontend = await workload(ca, FRONTEND);
    const r = await handshake(catalog.tlsOptions(), {
      ...frontend.tlsOptions({ expectedServerIdentities: [CATALOG] }),
    });
    assert.equal(r.server, FRONTEND.uri, 'server sees the client identity');
    assert.equal(r.client, CATALOG.uri, 'client sees the server identity');
    assert.equal(r.protocol, 'TLSv1.3');
  });
}

test('client rejects a server whose identity is not expected', async (t) => {
  const ca = CertificateAuthority.init(tempDir(t));
  const catalog = await workload(ca, CATALOG);
  const frontend = await workload(ca, FRONTEND);
  const other = SpiffeId.parse('spiffe://cluster.local/ns/shop/sa/payments');
  const r = await handshake(
    catalog.tlsOptions(),
    frontend.tlsOptions({ expectedServerIdentities: [other] }),
  );
  assert.equal(codeOf(r.client), TlsErrors.PEER_IDENTITY_MISMATCH);
  assert.ok(r.server instanceof Error, 'server never completes');
  // Default (no expected list): the server must be in the client's trust domain, which it is.
  const ok = await handshake(catalog.tlsOptions(), frontend.tlsOptions());
  assert.equal(ok.client, CATALOG.uri);
});

test('a client certificate from a foreign root is rejected by the server and by verifyPeer', async (t) => {
  const ca = CertificateAuthority.init(tempDir(t));
  const foreignCa = CertificateAuthority.init(tempDir(t));
  const catalog = await workload(ca, CATALOG);
  const intruder = await workload(foreignCa, FRONTEND);
  const r = await handshake(catalog.tlsOptions(), {
    ...intruder.tlsOptions(),
    ca: ca.trustBundle(), // the intruder trusts the real server, the server does not trust it
  });
  assert.ok(r.server instanceof Error, `server accepted a foreign client: ${String(r.server)}`);
  assert.throws(
    () => verifyPeer(intruder.chain, ca.roots, { trustDomain: 'cluster.local' }),
    (e: unknown) => codeOf(e) === TlsErrors.CERT_UNTRUSTED,
  );
  assert.equal(
    verifyPeer(intruder.chain, foreignCa.roots, { trustDomain: 'cluster.local' }).uri,
    FRONTEND.uri,
  );
});

test('an expired client certificate is rejected by the server and by verifyPeer', async (t) => {
  const ca = CertificateAuthority.init(tempDir(t));
  const catalog = await workload(ca, CATALOG);
  const { csrPem, keyPem } = await createCsr(FRONTEND);
  const { chainPem, notAfter } = ca.sign(csrPem, { identity: FRONTEND, ttlMs: 1 });
  // Issued with a lifetime of at most one second: wait until it has really expired.
  await sleep(Math.max(0, notAfter.getTime() - Date.now()) + 1100);
  assert.throws(
    () => verifyPeer(chainPem, ca.roots, { trustDomain: 'cluster.local' }),
    (e: unknown) => codeOf(e) === TlsErrors.CERT_EXPIRED,
  );
  assert.throws(
    () => WorkloadCertificate.create({ chainPem, keyPem }),
    (e: unknown) => codeOf(e) === TlsErrors.CERT_EXPIRED,
  );
  const manual = (key: string, cert: string) => ({
    key,
    cert,
    ca: ca.trustBundle(),
    minVersion: 'TLSv1.3' as const,
    checkServerIdentity: () => undefined,
  });
  const r = await handshake(catalog.tlsOptions(), manual(keyPem, chainPem[0] as string));
  assert.ok(r.server instanceof Error, 'server rejects the expired client');
  // Control: the same options with a valid certificate are accepted.
  const valid = await workload(ca, FRONTEND);
  const ok = await handshake(catalog.tlsOptions(), manual(valid.keyPem, valid.leafPem));
  assert.equal(ok.server, FRONTEND.uri);
});

test('peerIdentity enforces the X.509-SVID leaf rules on certificates made by openssl', async (t) => {
  const dir = tempDir(t);
  const ca = CertificateAuthority.init(join(dir, 'ca'));
  const cnf = writeOpensslConfig(dir);
  mustOpenssl(
    ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'k.pem'],
    dir,
  );
  mustOpenssl(
    ['req', '-new', '-config', cnf, '-key', 'k.pem', '-subj', '/CN=x', '-out', 'l.csr'],
    dir,
  );
  const leaf = (ext: string): string => {
    mustOpenssl(
      [
        'x509',
        '-req',
        '-in',
        'l.csr',
        '-CA',
        'ca/ca-cert.pem',
        '-CAkey',
        'ca/ca-key.pem',
        '-set_serial',
        '7',
        '-days',
        '1',
        '-extfile',
        cnf,
        '-extensions',
        ext,
        '-out',
        `${ext}.pem`,
      ],
      dir,
    );
    return readFileSync(join(dir, `${ext}.pem`), 'utf8');
  };
  const serving = ca.issueServingCertificate({ dnsNames: ['localhost'] });
  const cases: [string, string, string][] = [
    ['two URI SANs', leaf('v3_two_uris'), TlsErrors.PEER_IDENTITY_INVALID],
    ['keyCertSign on a leaf', leaf('v3_certsign_leaf'), TlsErrors.CERT_INVALID],
    ['a CA certificate', ca.trustBundle()[0] as string, TlsErrors.CERT_INVALID],
    ['no URI SAN', serving.chainPem[0] as string, TlsErrors.PEER_IDENTITY_INVALID],
  ];
  for (const [name, pem, code] of cases) {
    assert.throws(
      () => peerIdentity(pem),
      (e: unknown) => codeOf(e) === code,
      name,
    );
  }
  assert.equal(peerIdentity((await workload(ca, FRONTEND)).leafPem).uri, FRONTEND.uri);
});

test('root rotation: openssl verifies old and new leaves against the rotated root-cert.pem', async (t) => {
  const dir = tempDir(t);
  const ca1 = CertificateAuthority.init(dir);
  const old = await workload(ca1, FRONTEND);
  writeFileSync(join(dir, 'old.pem'), old.leafPem);
  writeFileSync(join(dir, 'old-root.pem'), ca1.trustBundle()[0] as string);
  const ca2 = CertificateAuthority.rotateRoot(dir);
  const fresh = await workload(ca2, CATALOG);
  writeFileSync(join(dir, 'new.pem'), fresh.leafPem);
  writeFileSync(join(dir, 'new-root.pem'), ca2.signer.toString());
  assert.equal(TrustBundle.fromPem(readFileSync(join(dir, 'root-cert.pem'), 'utf8')).size, 2);
  for (const leaf of ['old.pem', 'new.pem']) {
    assert.match(mustOpenssl(['verify', '-CAfile', 'root-cert.pem', leaf], dir), /: OK/, leaf);
  }
  assert.match(mustOpenssl(['verify', '-CAfile', 'new-root.pem', 'new.pem'], dir), /: OK/);
  assert.notEqual(openssl(['verify', '-CAfile', 'new-root.pem', 'old.pem'], dir).status, 0);
  assert.notEqual(openssl(['verify', '-CAfile', 'old-root.pem', 'new.pem'], dir).status, 0);
  // During the rotation a new-root workload and an old-root workload still talk (both trust both roots).
  const oldPeer = WorkloadCertificate.create({
    chainPem: old.chain,
    keyPem: old.keyPem,
    roots: ca2.trustBundle(),
  });
  const r = await handshake(
    fresh.tlsOptions(),
    oldPeer.tlsOptions({ expectedServerIdentities: [CATALOG] }),
  );
  assert.equal(r.server, FRONTEND.uri);
  assert.equal(r.client, CATALOG.uri);
});

test('serving certificate for the control plane verifies with openssl hostname and IP checks', (t) => {
  const dir = tempDir(t);
  const ca = CertificateAuthority.init(join(dir, 'ca'));
  const s = ca.issueServingCertificate({
    dnsNames: ['ambit-controlplane.istio-system.svc'],
    ipAddresses: ['127.0.0.1'],
  });
  writeFileSync(join(dir, 'srv.pem'), s.chainPem.join(''));
  const root = join(dir, 'ca', 'root-cert.pem');
  mustOpenssl([
    'verify',
    '-CAfile',
    root,
    '-verify_hostname',
    'ambit-controlplane.istio-system.svc',
    join(dir, 'srv.pem'),
  ]);
  mustOpenssl(['verify', '-CAfile', root, '-verify_ip', '127.0.0.1', join(dir, 'srv.pem')]);
  assert.notEqual(
    openssl(['verify', '-CAfile', root, '-verify_hostname', 'evil.example', join(dir, 'srv.pem')])
      .status,
    0,
  );
});

test('WorkloadCertificate: key never in JSON or inspect, key must match, refresh at half-life', async (t) => {
  const ca = CertificateAuthority.init(tempDir(t));
  const wc = await workload(ca, FRONTEND, 3600_000);
  assert.ok(wc.keyPem.includes('PRIVATE KEY'));
  for (const text of [
    JSON.stringify(wc),
    inspect(wc),
    inspect(wc, { showHidden: true, depth: 9 }),
    String(Object.keys(wc)),
  ]) {
    assert.ok(!text.includes('PRIVATE KEY'), text);
    assert.ok(!text.includes(wc.keyPem.split('\n')[1] as string), 'no key bytes');
  }
  assert.equal(wc.identity.uri, FRONTEND.uri);
  assert.equal(wc.refreshAt().getTime(), (wc.notBefore.getTime() + wc.notAfter.getTime()) / 2);
  assert.equal(wc.isExpired(), false);
  assert.equal(wc.isExpired(new Date(wc.notAfter.getTime() + 1000)), true);
  assert.equal(wc.certChainPem, wc.leafPem, 'the root is not sent to peers');
  const other = await createCsr(CATALOG);
  assert.throws(
    () => WorkloadCertificate.create({ chainPem: wc.chain, keyPem: other.keyPem }),
    (e: unknown) => codeOf(e) === TlsErrors.KEY_INVALID,
  );
  assert.throws(
    () =>
      WorkloadCertificate.create({
        chainPem: wc.chain,
        keyPem: wc.keyPem,
        expectedIdentity: CATALOG,
      }),
    (e: unknown) => codeOf(e) === TlsErrors.PEER_IDENTITY_MISMATCH,
  );
  // Roots default to the chain's self-signed last certificate.
  assert.equal(
    WorkloadCertificate.create({ chainPem: wc.chain.join(''), keyPem: wc.keyPem }).roots.size,
    1,
  );
});
