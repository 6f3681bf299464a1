/** Self-signed root creation (`ambit ca init`, root rotation). */
import { generateKeyPairSync } from 'node:crypto';
import { SpiffeId } from '../../identity/index.js';
import { derToPem, signed, signingAlgorithm } from '../../tls/index.js';
import { organizationName, randomSerial, rootExtensions, tbsCertificate } from './profile.js';

/** Roots are valid from this far in the past, like leaves, to absorb clock skew. */
const ROOT_BACKDATE_MS = 2 * 60_000;

/**
 * A fresh ECDSA P-256 root: subject and issuer `O=<trust domain>` (as Istio's
 * self-signed root), cA=true, keyCertSign|cRLSign, SKI, SAN `spiffe://<td>`.
 */
export function createSelfSignedRoot(
  trustDomain: string,
  ttlMs: number,
): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const name = organizationName(trustDomain);
  const now = Date.now();
  const alg = signingAlgorithm(privateKey);
  const tbs = tbsCertificate({
    serial: randomSerial(),
    algorithmDer: alg.algorithmDer,
    issuerDer: name,
    subjectDer: name,
    notBefore: new Date(Math.floor((now - ROOT_BACKDATE_MS) / 1000) * 1000),
    notAfter: new Date(Math.floor((now + ttlMs) / 1000) * 1000),
    spki,
    extensions: rootExtensions(spki, SpiffeId.forTrustDomain(trustDomain).uri),
  });
  return {
    certPem: derToPem(signed(tbs, alg, privateKey), 'CERTIFICATE'),
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  };
}
