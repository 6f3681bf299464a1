/**
 * The certificate profiles the CA issues, as DER templates. Static parts
 * (extensions that never change, issuer name, algorithm) are encoded once per
 * signer so each issuance is one signature and a few concatenations.
 *
 * Workload leaf (istio/istio security/pkg/pki/util/generate_cert.go, X509-SVID):
 * empty subject, one critical URI SAN, basicConstraints cA=false (critical),
 * keyUsage digitalSignature|keyEncipherment (critical), EKU serverAuth+clientAuth,
 * authorityKeyIdentifier.
 */
import { randomBytes } from 'node:crypto';
import {
  der,
  extension,
  generalNames,
  KeyUsageBit,
  keyIdentifier,
  Oid,
  type SanInput,
} from '../../tls/index.js';

const { bool, ctx, namedBits, oid, seq, set, smallInt, time, uint, utf8 } = der;

const VERSION_3 = ctx(0, true, smallInt(2));

const LEAF_STATIC_EXTENSIONS = Buffer.concat([
  extension(Oid.basicConstraints, true, seq()),
  extension(
    Oid.keyUsage,
    true,
    namedBits([KeyUsageBit.digitalSignature, KeyUsageBit.keyEncipherment]),
  ),
  extension(Oid.extKeyUsage, false, seq(oid(Oid.serverAuth), oid(Oid.clientAuth))),
]);

const CA_STATIC_EXTENSIONS = Buffer.concat([
  extension(Oid.basicConstraints, true, seq(bool(true))),
  extension(
    Oid.keyUsage,
    true,
    namedBits([KeyUsageBit.digitalSignature, KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign]),
  ),
]);

/** 16 random bytes, positive and without a leading zero byte (stable DER length). */
export function randomSerial(): Buffer {
  const s = randomBytes(16);
  s[0] = ((s[0] as number) & 0x7f) | 0x40;
  return s;
}

/** `O=<organization>` as an X.501 Name (Istio's self-signed root uses O=<trust domain>). */
export function organizationName(organization: string): Buffer {
  return seq(set(seq(oid(Oid.organizationName), utf8(organization))));
}

export interface TbsInput {
  readonly serial: Buffer;
  /** DER signature AlgorithmIdentifier of the issuer's key. */
  readonly algorithmDer: Buffer;
  readonly issuerDer: Buffer;
  readonly subjectDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  /** Concatenated Extension DERs. */
  readonly extensions: Buffer;
}

export function tbsCertificate(t: TbsInput): Buffer {
  return seq(
    VERSION_3,
    uint(t.serial),
    t.algorithmDer,
    t.issuerDer,
    seq(time(t.notBefore), time(t.notAfter)),
    t.subjectDer,
    t.spki,
    ctx(3, true, seq(t.extensions)),
  );
}

/** The authorityKeyIdentifier extension pointing at the signer. */
export function authorityKeyIdExtension(signerKeyId: Buffer): Buffer {
  return extension(Oid.authorityKeyIdentifier, false, seq(ctx(0, false, signerKeyId)));
}

/** Extensions of a SPIFFE workload leaf; `akiExt` is the pre-encoded AKI of the signer. */
export function leafExtensions(uri: string, akiExt: Buffer): Buffer {
  return Buffer.concat([
    extension(Oid.subjectAltName, true, generalNames({ uris: [uri] })),
    LEAF_STATIC_EXTENSIONS,
    akiExt,
  ]);
}

/** Extensions of a server (DNS/IP SAN) certificate with an empty subject. */
export function servingExtensions(names: SanInput, akiExt: Buffer): Buffer {
  return Buffer.concat([
    extension(Oid.subjectAltName, true, generalNames(names)),
    LEAF_STATIC_EXTENSIONS,
    akiExt,
  ]);
}

/** Extensions of a self-signed root: CA, cert/CRL signing, SKI and the trust-domain SPIFFE ID. */
export function rootExtensions(spki: Buffer, trustDomainUri: string): Buffer {
  return Buffer.concat([
    CA_STATIC_EXTENSIONS,
    extension(Oid.subjectKeyIdentifier, false, der.octets(keyIdentifier(spki))),
    extension(Oid.subjectAltName, false, generalNames({ uris: [trustDomainUri] })),
  ]);
}
