/**
 * Builders for certificate and CSR pieces, shared by createCsr and the CA.
 * Everything is plain DER concatenation so a certificate costs one signature
 * plus a few buffer copies.
 */
import { createHash, type KeyObject, sign } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { AmbitError } from '../core/errors.js';
import { bitString, bool, ctx, nullValue, octets, oid, seq } from './der.js';
import { TlsErrors } from './errors.js';
import { Oid } from './oids.js';
import { spkiPublicKeyBits } from './x509.js';

export interface SanInput {
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

/** `Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }`. */
export function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

export function generalNames(names: SanInput): Buffer {
  const parts: Buffer[] = [];
  for (const u of names.uris ?? []) parts.push(ctx(6, false, Buffer.from(u, 'latin1')));
  for (const d of names.dnsNames ?? []) parts.push(ctx(2, false, Buffer.from(d, 'latin1')));
  for (const ip of names.ipAddresses ?? []) parts.push(ctx(7, false, ipBytes(ip)));
  return seq(...parts);
}

export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip) || ip.includes('.')) {
    throw new AmbitError(TlsErrors.CERT_INVALID, `not an IP address: "${ip}"`);
  }
  const [head = '', tail] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}

/** The signature AlgorithmIdentifier and hash for a signing key. */
export interface SigningAlgorithm {
  readonly algorithmDer: Buffer;
  /** Hash name for crypto.sign, or null for Ed25519. */
  readonly hash: string | null;
}

export function signingAlgorithm(key: KeyObject): SigningAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1')
      return { algorithmDer: seq(oid(Oid.ecdsaWithSha256)), hash: 'sha256' };
    if (curve === 'secp384r1')
      return { algorithmDer: seq(oid(Oid.ecdsaWithSha384)), hash: 'sha384' };
    if (curve === 'secp521r1')
      return { algorithmDer: seq(oid(Oid.ecdsaWithSha512)), hash: 'sha512' };
  } else if (type === 'rsa') {
    return { algorithmDer: seq(oid(Oid.sha256WithRsa), nullValue()), hash: 'sha256' };
  } else if (type === 'ed25519') {
    return { algorithmDer: seq(oid(Oid.ed25519)), hash: null };
  }
  throw new AmbitError(
    TlsErrors.KEY_INVALID,
    `unsupported signing key type ${type ?? 'unknown'}: use ECDSA P-256/P-384/P-521, RSA or Ed25519`,
  );
}

/** Signs `body` and wraps it as `SEQUENCE { body, algorithm, BIT STRING signature }` (certificate and CSR shape). */
export function signed(body: Buffer, alg: SigningAlgorithm, key: KeyObject): Buffer {
  const sig = sign(alg.hash, body, key);
  return seq(body, alg.algorithmDer, bitString(sig));
}

/** Key identifier: SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1, as Go does). */
export function keyIdentifier(spki: Buffer): Buffer {
  return createHash('sha1').update(spkiPublicKeyBits(spki)).digest();
}
