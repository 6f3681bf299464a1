/**
 * A workload's X.509-SVID: identity, chain, private key and trust roots, plus
 * the node:tls options for SPIFFE mTLS. The private key never appears in
 * JSON or util.inspect output.
 */
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { inspect } from 'node:util';
import { AmbitError } from '../core/errors.js';
import type { SpiffeId } from '../identity/index.js';
import { TrustBundle } from './bundle.js';
import { TlsErrors } from './errors.js';
import { splitPemCertificates } from './pem.js';
import { checkExpectedIdentity, checkTrustDomain, peerIdentity, verifyChain } from './verify.js';

export interface WorkloadCertificateInit {
  /** Leaf first, then intermediates, optionally the root (Istio CA response order). */
  readonly chainPem: string | readonly string[];
  readonly keyPem: string;
  /** Trust roots. Default: the last certificate of the chain if it is self-signed. */
  readonly roots?: TrustBundle | string | readonly string[];
  /** If set, the leaf must carry exactly this identity (ztunnel checks this on every CA answer). */
  readonly expectedIdentity?: SpiffeId;
  /** Chain validity is checked at this instant. Default: now. */
  readonly now?: Date;
}

/** Options for tls.connect and tls.createServer alike: TLS 1.3 only, mutual, SPIFFE-checked. */
export interface WorkloadTlsOptions {
  readonly key: string;
  /** Leaf and intermediates (roots are not sent). */
  readonly cert: string;
  readonly ca: string[];
  readonly minVersion: 'TLSv1.3';
  readonly maxVersion: 'TLSv1.3';
  readonly requestCert: true;
  readonly rejectUnauthorized: true;
  /** Replaces the DNS hostname check (SVIDs have no DNS SAN) with a SPIFFE ID check. */
  readonly checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
}

export interface TlsIdentityOptions {
  /** Client side: the server must present one of these identities. */
  readonly expectedServerIdentities?: readonly SpiffeId[];
  /** When no expected identities are given, the server must be in this trust domain. Default: own trust domain. */
  readonly trustDomain?: string;
}

export class WorkloadCertificate {
  readonly identity: SpiffeId;
  /** PEM certificates, leaf first, as issued (may end with the root). */
  readonly chain: readonly string[];
  readonly roots: TrustBundle;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly #keyPem: string;
  readonly #sendChain: string;

  private constructor(
    identity: SpiffeId,
    chain: readonly string[],
    keyPem: string,
    roots: TrustBundle,
    leaf: X509Certificate,
  ) {
    this.identity = identity;
    this.chain = Object.freeze([...chain]);
    this.#keyPem = keyPem;
    this.roots = roots;
    this.notBefore = new Date(leaf.validFrom);
    this.notAfter = new Date(leaf.validTo);
    this.#sendChain = chain.filter((p) => !roots.has(new X509Certificate(p))).join('');
  }

  /**
   * Validates and wraps an issued certificate: the leaf follows the
   * X.509-SVID rules, the key matches the leaf, the chain leads to `roots`.
   */
  static create(init: WorkloadCertificateInit): WorkloadCertificate {
    const chain =
      typeof init.chainPem === 'string'
        ? splitPemCertificates(init.chainPem)
        : init.chainPem.flatMap(splitPemCertificates);
    const certs = chain.map((p) => {
      try {
        return new X509Certificate(p);
      } catch (err) {
        throw new AmbitError(TlsErrors.CERT_INVALID, 'unparsable certificate in chain', {
          cause: err,
        });
      }
    });
    const leaf = certs[0] as X509Certificate;
    const roots = resolveRoots(init.roots, certs);
    verifyChain(certs, roots, init.now ? { now: init.now } : {});
    const identity = peerIdentity(leaf);
    if (init.expectedIdentity) checkExpectedIdentity(identity, [init.expectedIdentity]);
    let key: KeyObject;
    try {
      key = createPrivateKey(init.keyPem);
    } catch (err) {
      throw new AmbitError(TlsErrors.KEY_INVALID, 'private key cannot be parsed', { cause: err });
    }
    const keySpki = createPublicKey(key).export({ format: 'der', type: 'spki' });
    if (!keySpki.equals(leaf.publicKey.export({ format: 'der', type: 'spki' }))) {
      throw new AmbitError(
        TlsErrors.KEY_INVALID,
        `private key does not match the certificate of ${identity.uri}`,
      );
    }
    return new WorkloadCertificate(identity, chain, init.keyPem, roots, leaf);
  }

  /** The PKCS#8/SEC1 private key PEM. Secret: never log it. */
  get keyPem(): string {
    return this.#keyPem;
  }

  get leafPem(): string {
    return this.chain[0] as string;
  }

  /** Leaf and intermediates, without certificates that are trust roots (what a TLS peer sends). */
  get certChainPem(): string {
    return this.#sendChain;
  }

  /** When to fetch a replacement: half-way through the validity (ztunnel's rule). */
  refreshAt(): Date {
    const nb = this.notBefore.getTime();
    return new Date(nb + (this.notAfter.getTime() - nb) / 2);
  }

  isExpired(now: Date = new Date()): boolean {
    return now > this.notAfter;
  }

  /**
   * node:tls options for SPIFFE mTLS over TLS 1.3, usable on both sides.
   * Servers additionally check the client with {@link socketPeerIdentity} +
   * checkTrustDomain after the handshake.
   */
  tlsOptions(opts: TlsIdentityOptions = {}): WorkloadTlsOptions {
    const expected = opts.expectedServerIdentities;
    const td = opts.trustDomain ?? this.identity.trustDomain;
    return {
      key: this.#keyPem,
      cert: this.certChainPem,
      ca: this.roots.pems,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) => {
        try {
          const id = peerIdentity(cert.raw);
          if (expected) checkExpectedIdentity(id, expected);
          else checkTrustDomain(id, td);
          return undefined;
        } catch (err) {
          return err instanceof Error ? err : new Error(String(err));
        }
      },
    };
  }

  toJSON(): Record<string, unknown> {
    return {
      identity: this.identity.uri,
      notBefore: this.notBefore.toISOString(),
      notAfter: this.notAfter.toISOString(),
      refreshAt: this.refreshAt().toISOString(),
      chainLength: this.chain.length,
      roots: this.roots.size,
    };
  }

  [inspect.custom](): string {
    return `WorkloadCertificate ${inspect(this.toJSON())}`;
  }
}

function resolveRoots(
  roots: WorkloadCertificateInit['roots'],
  certs: readonly X509Certificate[],
): TrustBundle {
  if (roots instanceof TrustBundle) return roots;
  if (roots !== undefined) return TrustBundle.fromPem(roots);
  const last = certs[certs.length - 1];
  if (certs.length > 1 && last && last.ca && last.checkIssued(last)) {
    return TrustBundle.fromPem(last.toString());
  }
  throw new AmbitError(
    TlsErrors.CERT_INVALID,
    'no trust roots given and the chain does not end with a self-signed root',
  );
}
