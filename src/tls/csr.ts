/** Workload-side CSR creation, shaped like ztunnel's (istio/ztunnel src/tls/csr.rs). */
import { generateKeyPair as generateKeyPairCb, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { SpiffeId } from '../identity/index.js';
import { extension, generalNames, signed, signingAlgorithm } from './build.js';
import { ctx, oid, seq, set, smallInt } from './der.js';
import { Oid } from './oids.js';
import { derToPem } from './pem.js';

const generateKeyPair = promisify(generateKeyPairCb);

/** A fresh ECDSA P-256 key pair (the only key type ztunnel and Istio workloads use). */
export async function generateP256(): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return generateKeyPair('ec', { namedCurve: 'prime256v1' });
}

/**
 * Creates a PKCS#10 request for `identity`: a fresh ECDSA P-256 key,
 * SHA-256 signature, empty subject and exactly one URI SAN (critical, as the
 * X.509-SVID spec requires when the subject is empty).
 *
 * @returns the CSR and the PKCS#8 private key, both PEM. Keep `keyPem` secret.
 */
export async function createCsr(identity: SpiffeId): Promise<{ csrPem: string; keyPem: string }> {
  const { privateKey, publicKey } = await generateP256();
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const san = extension(Oid.subjectAltName, true, generalNames({ uris: [identity.uri] }));
  const info = seq(
    smallInt(0),
    seq(), // empty subject
    spki,
    ctx(0, true, seq(oid(Oid.extensionRequest), set(seq(san)))),
  );
  const csr = signed(info, signingAlgorithm(privateKey), privateKey);
  return {
    csrPem: derToPem(csr, 'CERTIFICATE REQUEST'),
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  };
}
