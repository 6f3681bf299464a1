/**
 * Test certificates made with the `openssl` CLI, independent of ambit's own
 * CA code, so TLS/HBONE tests also prove we interoperate with certificates we
 * did not mint: an EC P-256 root and Istio-shaped leaves (empty subject,
 * critical URI SAN `spiffe://<td>/ns/<ns>/sa/<sa>`, EKU serverAuth+clientAuth).
 *
 * Everything is generated in a private temp dir that is removed before the
 * function returns.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpiffeId } from '../../src/identity/index.js';
import type { HboneCredentials } from '../../src/proxy/hbone/index.js';

export interface TestCa {
  certPem: string;
  keyPem: string;
}

export interface TestLeaf {
  certPem: string;
  keyPem: string;
}

export interface LeafOptions {
  /** URI SANs; default none. Istio leaves have exactly one. */
  uris?: string[];
  /** DNS SANs; default none. */
  dns?: string[];
  /** Validity in days; default 1. */
  days?: number;
}

function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-certs-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function ecKey(dir: string, name: string): void {
  openssl(
    ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name],
    dir,
  );
}

/** A self-signed EC P-256 root. */
export function makeCa(name = 'ambit test root'): TestCa {
  return withTmp((dir) => {
    ecKey(dir, 'ca.key');
    writeFileSync(
      join(dir, 'ca.ext'),
      [
        'basicConstraints=critical,CA:true',
        'keyUsage=critical,keyCertSign,cRLSign',
        'subjectKeyIdentifier=hash',
      ].join('\n'),
    );
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-key',
        'ca.key',
        '-subj',
        `/O=ambit-test/CN=${name}`,
        '-days',
        '2',
        '-sha256',
        '-extensions',
        'v3',
        '-config',
        writeReqConfig(dir, 'ca.ext'),
        '-out',
        'ca.crt',
      ],
      dir,
    );
    return {
      certPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      keyPem: readFileSync(join(dir, 'ca.key'), 'utf8'),
    };
  });
}

// `req -x509` reads extensions from a config section, not an -extfile.
function writeReqConfig(dir: string, extFile: string): string {
  const ext = readFileSync(join(dir, extFile), 'utf8');
  writeFileSync(
    join(dir, 'req.cnf'),
    `[req]\ndistinguished_name=dn\nprompt=no\n[dn]\n[v3]\n${ext}\n`,
  );
  return 'req.cnf';
}

/** A leaf signed by `ca` with the given SANs. */
export function makeLeaf(ca: TestCa, options: LeafOptions = {}): TestLeaf {
  return withTmp((dir) => {
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    ecKey(dir, 'leaf.key');
    const sans = [
      ...(options.uris ?? []).map((u) => `URI:${u}`),
      ...(options.dns ?? []).map((d) => `DNS:${d}`),
    ];
    const ext = [
      'basicConstraints=critical,CA:false',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      'authorityKeyIdentifier=keyid',
    ];
    if (sans.length > 0) ext.push(`subjectAltName=critical,${sans.join(',')}`);
    writeFileSync(join(dir, 'leaf.ext'), ext.join('\n'));
    // Istio leaves have an empty subject; openssl needs at least one RDN in a CSR,
    // so use O= like istiod's self-signed certs do.
    openssl(['req', '-new', '-key', 'leaf.key', '-subj', '/O=ambit-test', '-out', 'leaf.csr'], dir);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'leaf.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        String(options.days ?? 1),
        '-sha256',
        '-extfile',
        'leaf.ext',
        '-out',
        'leaf.crt',
      ],
      dir,
    );
    return {
      certPem: readFileSync(join(dir, 'leaf.crt'), 'utf8'),
      keyPem: readFileSync(join(dir, 'leaf.key'), 'utf8'),
    };
  });
}

/** HBONE credentials for `spiffe://<td>/ns/<ns>/sa/<sa>` issued by `ca`. */
export function workloadCredentials(
  ca: TestCa,
  ns: string,
  sa: string,
  trustDomain = 'cluster.local',
): HboneCredentials {
  const identity = SpiffeId.forWorkload(trustDomain, ns, sa);
  const leaf = makeLeaf(ca, { uris: [identity.uri] });
  return { certChainPem: leaf.certPem, keyPem: leaf.keyPem, rootsPem: [ca.certPem], identity };
}
