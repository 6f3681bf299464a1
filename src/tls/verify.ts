/**
 * Peer verification shared by HBONE and the CA server: chain to the trust
 * bundle, then the X.509-SVID leaf rules (spiffe/spiffe standards/X509-SVID.md
 * §5: exactly one URI SAN, cA=false, no keyCertSign/cRLSign).
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { AmbitError } from '../core/errors.js';
import { SpiffeId } from '../identity/index.js';
import type { TrustBundle } from './bundle.js';
import { TlsErrors } from './errors.js';
import { splitPemCertificates } from './pem.js';
import { type CertificateInfo, type CertificateInput, parseCertificate } from './x509.js';

/** Longest chain accepted, leaf to root inclusive. */
const MAX_CHAIN_DEPTH = 8;

export interface VerifiedChain {
  readonly leaf: X509Certificate;
  /** Leaf first, ending with the trusted root. */
  readonly path: readonly X509Certificate[];
  readonly root: X509Certificate;
}

export interface VerifyOptions {
  /** Validity is checked at this instant. Default: now. */
  readonly now?: Date;
}

function toX509(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new AmbitError(TlsErrors.CERT_INVALID, 'unparsable certificate in chain', { cause: err });
  }
}

function checkValidity(cert: X509Certificate, now: Date, role: string): void {
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (now < from || now > to) {
    throw new AmbitError(
      TlsErrors.CERT_EXPIRED,
      `${role} certificate is ${now < from ? 'not yet valid' : 'expired'} (valid ${from.toISOString()} to ${to.toISOString()})`,
      { details: { notBefore: from.toISOString(), notAfter: to.toISOString(), role } },
    );
  }
}

/**
 * Verifies that the first certificate chains, through the following ones,
 * to a root in `trustBundle`, with every certificate in its validity period.
 * Throws AMBIT_TLS_CERT_UNTRUSTED, AMBIT_TLS_CERT_EXPIRED or AMBIT_TLS_CERT_INVALID.
 */
export function verifyChain(
  leafAndIntermediates: string | readonly string[] | readonly X509Certificate[],
  trustBundle: TrustBundle,
  options: VerifyOptions = {},
): VerifiedChain {
  const now = options.now ?? new Date();
  const certs = toCertList(leafAndIntermediates);
  const leaf = certs[0];
  if (leaf === undefined) throw new AmbitError(TlsErrors.CERT_INVALID, 'empty certificate chain');
  const pool = certs.slice(1);
  const path: X509Certificate[] = [leaf];
  let current = leaf;
  while (path.length <= MAX_CHAIN_DEPTH) {
    checkValidity(current, now, path.length === 1 ? 'leaf' : 'intermediate');
    const root = trustBundle.issuerOf(current);
    if (root) {
      checkValidity(root, now, 'root');
      if (!trustBundle.has(current)) path.push(root);
      return { leaf, path, root };
    }
    const next = pool.find(
      (c) => c.ca && !path.includes(c) && current.checkIssued(c) && current.verify(c.publicKey),
    );
    if (next === undefined) break;
    path.push(next);
    current = next;
  }
  throw new AmbitError(
    TlsErrors.CERT_UNTRUSTED,
    `certificate chain does not lead to a trusted root (leaf issuer "${leaf.issuer ?? ''}")`,
    { details: { issuer: leaf.issuer ?? '' } },
  );
}

function toCertList(
  input: string | readonly string[] | readonly X509Certificate[],
): X509Certificate[] {
  if (typeof input === 'string') return splitPemCertificates(input).map(toX509);
  return input.flatMap((c) => (typeof c === 'string' ? splitPemCertificates(c).map(toX509) : [c]));
}

/**
 * The SPIFFE ID of a peer's leaf certificate. Throws AMBIT_TLS_CERT_INVALID
 * if the leaf is a CA or may sign certificates/CRLs, and
 * AMBIT_TLS_PEER_IDENTITY_INVALID unless it has exactly one URI SAN holding a
 * valid SPIFFE ID with a path.
 */
export function peerIdentity(cert: CertificateInput | CertificateInfo): SpiffeId {
  const info = isInfo(cert) ? cert : parseCertificate(cert);
  if (info.basicConstraints?.cA) {
    throw new AmbitError(TlsErrors.CERT_INVALID, 'peer leaf certificate is a CA (cA=true)');
  }
  if (info.keyUsage?.has('keyCertSign') || info.keyUsage?.has('cRLSign')) {
    throw new AmbitError(
      TlsErrors.CERT_INVALID,
      'peer leaf certificate has keyCertSign or cRLSign key usage',
    );
  }
  const uris = info.san?.uris ?? [];
  if (uris.length !== 1) {
    throw new AmbitError(
      TlsErrors.PEER_IDENTITY_INVALID,
      `peer certificate must have exactly one URI SAN, found ${uris.length}`,
    );
  }
  const id = SpiffeId.tryParse(uris[0] as string);
  if (id === undefined || id.path === '') {
    throw new AmbitError(
      TlsErrors.PEER_IDENTITY_INVALID,
      `peer URI SAN "${(uris[0] as string).slice(0, 200)}" is not a SPIFFE workload ID`,
    );
  }
  return id;
}

function isInfo(v: CertificateInput | CertificateInfo): v is CertificateInfo {
  return typeof v === 'object' && 'tbs' in v && 'extensions' in v;
}

/** Client side: the server's identity must be one of `expected` (an empty list matches nothing). */
export function checkExpectedIdentity(id: SpiffeId, expected: readonly SpiffeId[]): void {
  if (!expected.some((e) => e.equals(id))) {
    throw new AmbitError(
      TlsErrors.PEER_IDENTITY_MISMATCH,
      `peer identity ${id.uri} is not one of the expected identities [${expected.map((e) => e.uri).join(', ')}]`,
      { details: { peer: id.uri, expected: expected.map((e) => e.uri) } },
    );
  }
}

/** Server side: the client's identity must belong to trust domain `trustDomain`. */
export function checkTrustDomain(id: SpiffeId, trustDomain: string): void {
  if (id.trustDomain !== trustDomain) {
    throw new AmbitError(
      TlsErrors.TRUST_DOMAIN_MISMATCH,
      `peer identity ${id.uri} is not in trust domain ${trustDomain}`,
      { details: { peer: id.uri, trustDomain } },
    );
  }
}

export interface VerifyPeerOptions extends VerifyOptions {
  /** If set, the peer must be one of these (client side). */
  readonly expected?: readonly SpiffeId[];
  /** If set, the peer must be in this trust domain (server side). */
  readonly trustDomain?: string;
}

/** verifyChain + peerIdentity + the optional identity checks, in one call. */
export function verifyPeer(
  chain: string | readonly string[] | readonly X509Certificate[],
  trustBundle: TrustBundle,
  options: VerifyPeerOptions = {},
): SpiffeId {
  const { leaf } = verifyChain(chain, trustBundle, options);
  const id = peerIdentity(leaf);
  if (options.expected) checkExpectedIdentity(id, options.expected);
  if (options.trustDomain !== undefined) checkTrustDomain(id, options.trustDomain);
  return id;
}

/**
 * The SPIFFE ID of the peer on an established TLS socket whose chain node:tls
 * already verified (rejectUnauthorized). Applies the leaf rules of peerIdentity.
 */
export function socketPeerIdentity(socket: TLSSocket): SpiffeId {
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) {
    throw new AmbitError(TlsErrors.PEER_IDENTITY_INVALID, 'peer presented no certificate');
  }
  return peerIdentity(cert);
}
