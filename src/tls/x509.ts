/**
 * Fast X.509 certificate reading on top of the DER reader: the fields the
 * mesh checks on every handshake (SANs, basic constraints, key usage) without
 * an ASN.1 object model. Signature checks use node:crypto (OpenSSL).
 */
import { X509Certificate } from 'node:crypto';
import { AmbitError } from '../core/errors.js';
import {
  children,
  contentOf,
  DerError,
  decodeBoolean,
  decodeNamedBits,
  decodeOid,
  decodeTime,
  expectTag,
  rawOf,
  readRoot,
  Tag,
  type Tlv,
} from './der.js';
import { TlsErrors } from './errors.js';
import { KeyUsageBit, type KeyUsageName, Oid } from './oids.js';
import { pemToDer } from './pem.js';

export interface Extension {
  readonly critical: boolean;
  /** The extnValue content (the DER inside the OCTET STRING). */
  readonly value: Buffer;
}

/** Subject alternative names by type; `other` counts types we do not model. */
export interface GeneralNames {
  readonly uris: string[];
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
  readonly emails: string[];
  readonly other: number;
}

export interface CertificateInfo {
  readonly der: Buffer;
  /** The raw TBSCertificate, the bytes the issuer signed. */
  readonly tbs: Buffer;
  readonly serialHex: string;
  readonly signatureAlgorithm: string;
  readonly issuerDer: Buffer;
  readonly subjectDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The SubjectPublicKeyInfo DER. */
  readonly spki: Buffer;
  readonly extensions: ReadonlyMap<string, Extension>;
  readonly san: GeneralNames | undefined;
  readonly basicConstraints: { readonly cA: boolean; readonly pathLen?: number } | undefined;
  readonly keyUsage: ReadonlySet<KeyUsageName> | undefined;
  readonly extKeyUsage: readonly string[] | undefined;
  readonly subjectKeyId: Buffer | undefined;
  readonly authorityKeyId: Buffer | undefined;
}

/** Anything that holds one certificate. */
export type CertificateInput = string | Uint8Array | X509Certificate;

export function certificateDer(input: CertificateInput): Buffer {
  if (input instanceof X509Certificate) return input.raw;
  if (typeof input === 'string') return pemToDer(input, ['CERTIFICATE']);
  return Buffer.from(input);
}

/** Parses one certificate (PEM, DER or X509Certificate). Throws AMBIT_TLS_CERT_INVALID. */
export function parseCertificate(input: CertificateInput): CertificateInfo {
  const der = certificateDer(input);
  try {
    return parseDer(der);
  } catch (err) {
    if (err instanceof AmbitError) throw err;
    // DerError, or a RangeError from a field with an impossible length: both mean malformed input.
    throw new AmbitError(
      TlsErrors.CERT_INVALID,
      `malformed certificate: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

function parseDer(der: Buffer): CertificateInfo {
  const cert = readRoot(der, Tag.SEQUENCE);
  const [tbsT, algT] = children(der, cert);
  const tbsKids = children(der, expectTag(tbsT, Tag.SEQUENCE));
  let i = 0;
  if (tbsKids[0]?.tag === 0xa0) i++; // [0] version
  const serialT = expectTag(tbsKids[i++], Tag.INTEGER);
  i++; // inner signature algorithm
  const issuerT = expectTag(tbsKids[i++], Tag.SEQUENCE);
  const validity = children(der, expectTag(tbsKids[i++], Tag.SEQUENCE));
  const subjectT = expectTag(tbsKids[i++], Tag.SEQUENCE);
  const spkiT = expectTag(tbsKids[i++], Tag.SEQUENCE);
  let extensions = new Map<string, Extension>();
  for (; i < tbsKids.length; i++) {
    const t = tbsKids[i] as Tlv;
    if (t.tag === 0xa3) {
      extensions = parseExtensions(der, expectTag(children(der, t)[0], Tag.SEQUENCE));
    }
  }
  const algOid = decodeOid(
    contentOf(der, expectTag(children(der, expectTag(algT, Tag.SEQUENCE))[0], Tag.OID)),
  );
  const nb = validity[0];
  const na = validity[1];
  if (nb === undefined || na === undefined) throw new DerError('validity needs two times');
  return {
    der,
    tbs: rawOf(der, tbsT as Tlv),
    serialHex: contentOf(der, serialT).toString('hex'),
    signatureAlgorithm: algOid,
    issuerDer: rawOf(der, issuerT),
    subjectDer: rawOf(der, subjectT),
    notBefore: decodeTime(der, nb),
    notAfter: decodeTime(der, na),
    spki: rawOf(der, spkiT),
    extensions,
    ...decodeKnownExtensions(extensions),
  };
}

/** Parses `Extensions ::= SEQUENCE OF Extension`; duplicate OIDs are malformed. */
export function parseExtensions(buf: Buffer, seqT: Tlv): Map<string, Extension> {
  const out = new Map<string, Extension>();
  for (const extT of children(buf, seqT)) {
    const parts = children(buf, expectTag(extT, Tag.SEQUENCE));
    const id = decodeOid(contentOf(buf, expectTag(parts[0], Tag.OID)));
    let critical = false;
    let valueT = parts[1];
    if (valueT?.tag === Tag.BOOLEAN) {
      critical = decodeBoolean(contentOf(buf, valueT));
      valueT = parts[2];
    }
    if (out.has(id)) throw new DerError(`duplicate extension ${id}`);
    out.set(id, {
      critical,
      value: Buffer.from(contentOf(buf, expectTag(valueT, Tag.OCTET_STRING))),
    });
  }
  return out;
}

/** Decodes a GeneralNames SEQUENCE (SAN extension value). */
export function parseGeneralNames(value: Buffer): GeneralNames {
  const root = readRoot(value, Tag.SEQUENCE);
  const names = {
    uris: [] as string[],
    dnsNames: [] as string[],
    ipAddresses: [] as string[],
    emails: [] as string[],
    other: 0,
  };
  for (const t of children(value, root)) {
    const text = (): string => contentOf(value, t).toString('latin1');
    if (t.tag === 0x86) names.uris.push(text());
    else if (t.tag === 0x82) names.dnsNames.push(text());
    else if (t.tag === 0x81) names.emails.push(text());
    else if (t.tag === 0x87) names.ipAddresses.push(formatIp(contentOf(value, t)));
    else names.other++;
  }
  return names;
}

function formatIp(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
    // RFC 5952: compress the longest run (≥ 2) of zero groups to "::".
    const text = groups.join(':');
    const runs = [...`:${text}:`.matchAll(/:(?:0:){2,}/g)].sort(
      (x, y) => y[0].length - x[0].length,
    );
    const longest = runs[0];
    if (longest === undefined) return text;
    const padded = `:${text}:`;
    const start = longest.index ?? 0;
    return `${padded.slice(0, start)}::${padded.slice(start + longest[0].length)}`.replace(
      /^:(?!:)|(?<!:):$/g,
      '',
    );
  }
  throw new DerError('IP address SAN must be 4 or 16 bytes');
}

export function parseBasicConstraints(value: Buffer): { cA: boolean; pathLen?: number } {
  const root = readRoot(value, Tag.SEQUENCE);
  let cA = false;
  let pathLen: number | undefined;
  for (const t of children(value, root)) {
    if (t.tag === Tag.BOOLEAN) cA = decodeBoolean(contentOf(value, t));
    else if (t.tag === Tag.INTEGER)
      pathLen = contentOf(value, t).readUIntBE(0, Math.min(6, t.end - t.contentStart));
  }
  return pathLen === undefined ? { cA } : { cA, pathLen };
}

/** The named bits of a KeyUsage extension value. */
export function parseKeyUsage(value: Buffer): Set<KeyUsageName> {
  const bits = decodeNamedBits(contentOf(value, readRoot(value, Tag.BIT_STRING)));
  return new Set(
    (Object.keys(KeyUsageBit) as KeyUsageName[]).filter((n) => bits.has(KeyUsageBit[n])),
  );
}

function decodeKnownExtensions(
  ext: ReadonlyMap<string, Extension>,
): Pick<
  CertificateInfo,
  'san' | 'basicConstraints' | 'keyUsage' | 'extKeyUsage' | 'subjectKeyId' | 'authorityKeyId'
> {
  const san = ext.get(Oid.subjectAltName);
  const bc = ext.get(Oid.basicConstraints);
  const ku = ext.get(Oid.keyUsage);
  const eku = ext.get(Oid.extKeyUsage);
  const ski = ext.get(Oid.subjectKeyIdentifier);
  const aki = ext.get(Oid.authorityKeyIdentifier);
  let authorityKeyId: Buffer | undefined;
  if (aki) {
    const t = children(aki.value, readRoot(aki.value, Tag.SEQUENCE)).find((c) => c.tag === 0x80);
    if (t) authorityKeyId = Buffer.from(contentOf(aki.value, t));
  }
  return {
    san: san ? parseGeneralNames(san.value) : undefined,
    basicConstraints: bc ? parseBasicConstraints(bc.value) : undefined,
    keyUsage: ku ? parseKeyUsage(ku.value) : undefined,
    extKeyUsage: eku
      ? children(eku.value, readRoot(eku.value, Tag.SEQUENCE)).map((t) =>
          decodeOid(contentOf(eku.value, expectTag(t, Tag.OID))),
        )
      : undefined,
    subjectKeyId: ski
      ? Buffer.from(contentOf(ski.value, readRoot(ski.value, Tag.OCTET_STRING)))
      : undefined,
    authorityKeyId,
  };
}

/** The raw public key bits of an SPKI (used for key identifiers, RFC 5280 §4.2.1.2 method 1). */
export function spkiPublicKeyBits(spki: Buffer): Buffer {
  const parts = children(spki, readRoot(spki, Tag.SEQUENCE));
  const bits = contentOf(spki, expectTag(parts[1], Tag.BIT_STRING));
  return bits.subarray(1);
}
