/** A set of trusted root certificates. More than one during a root rotation (old + new). */
import { X509Certificate } from 'node:crypto';
import { AmbitError } from '../core/errors.js';
import { TlsErrors } from './errors.js';
import { splitPemCertificates } from './pem.js';

export class TrustBundle {
  private constructor(readonly roots: readonly X509Certificate[]) {}

  /**
   * Builds a bundle from PEM text (one bundle string or single-cert strings).
   * Every certificate must be a CA certificate; duplicates are dropped.
   */
  static fromPem(pem: string | readonly string[]): TrustBundle {
    const texts = typeof pem === 'string' ? [pem] : pem;
    const certs: X509Certificate[] = [];
    for (const text of texts) {
      for (const one of splitPemCertificates(text)) {
        let cert: X509Certificate;
        try {
          cert = new X509Certificate(one);
        } catch (err) {
          throw new AmbitError(
            TlsErrors.CERT_INVALID,
            'trust bundle holds an unparsable certificate',
            {
              cause: err,
            },
          );
        }
        if (!cert.ca) {
          throw new AmbitError(
            TlsErrors.CERT_INVALID,
            `trust bundle certificate "${cert.subject || cert.fingerprint256}" is not a CA certificate`,
          );
        }
        if (!certs.some((c) => c.fingerprint256 === cert.fingerprint256)) certs.push(cert);
      }
    }
    return new TrustBundle(certs);
  }

  /** One PEM string per root, in bundle order. */
  get pems(): string[] {
    return this.roots.map((r) => r.toString());
  }

  /** All roots concatenated, the `root-cert.pem` form. */
  toPem(): string {
    return this.pems.join('');
  }

  get size(): number {
    return this.roots.length;
  }

  has(cert: X509Certificate): boolean {
    return this.roots.some((r) => r.fingerprint256 === cert.fingerprint256);
  }

  /** The root that signed `cert`, if any (name match and a valid signature). */
  issuerOf(cert: X509Certificate): X509Certificate | undefined {
    return this.roots.find((r) => cert.checkIssued(r) && cert.verify(r.publicKey));
  }

  /** This bundle plus `other`'s roots (deduplicated). */
  merge(other: TrustBundle): TrustBundle {
    return new TrustBundle([...this.roots, ...other.roots.filter((r) => !this.has(r))]);
  }

  toJSON(): { roots: { subject: string; fingerprint256: string; notAfter: string }[] } {
    return {
      roots: this.roots.map((r) => ({
        subject: r.subject ?? '',
        fingerprint256: r.fingerprint256,
        notAfter: new Date(r.validTo).toISOString(),
      })),
    };
  }
}
