/**
 * CA-side PKCS#10 parsing: strict DER, self-signature check, requested
 * extensions, and the request checks every workload CSR must pass.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { AmbitError } from '../../core/errors.js';
import type { SpiffeId } from '../../identity/index.js';
import {
  der,
  type Extension,
  type GeneralNames,
  Oid,
  parseBasicConstraints,
  parseExtensions,
  parseGeneralNames,
  parseKeyUsage,
  pemToDer,
  SIGNATURE_HASH,
} from '../../tls/index.js';
import { CaErrors } from './errors.js';

export interface ParsedCsr {
  readonly spki: Buffer;
  readonly publicKey: KeyObject;
  readonly extensions: ReadonlyMap<string, Extension>;
  readonly san: GeneralNames | undefined;
}

/** Largest CSR accepted, in characters of PEM (ztunnel's are ~500). */
const MAX_CSR_CHARS = 64 * 1024;

function malformed(why: string, cause?: unknown): AmbitError {
  return new AmbitError(CaErrors.CSR_MALFORMED, `malformed CSR: ${why}`, { cause });
}

/** Parses a PEM CSR and verifies its self-signature. Throws CSR_MALFORMED or CSR_SIGNATURE_INVALID. */
export function parseCsr(csrPem: string): ParsedCsr {
  if (typeof csrPem !== 'string' || csrPem.length > MAX_CSR_CHARS) {
    throw malformed(`not a PEM string of at most ${MAX_CSR_CHARS} characters`);
  }
  let bytes: Buffer;
  try {
    bytes = pemToDer(csrPem, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
  } catch (err) {
    throw malformed('expected one PEM block "CERTIFICATE REQUEST"', err);
  }
  let info: Buffer;
  let sigAlg: string;
  let signature: Buffer;
  let spki: Buffer;
  let extensions = new Map<string, Extension>();
  try {
    const root = der.readRoot(bytes, der.Tag.SEQUENCE);
    const [criT, algT, sigT, extra] = der.children(bytes, root);
    if (extra !== undefined) throw new der.DerError('extra fields after signature');
    const cri = der.children(bytes, der.expectTag(criT, der.Tag.SEQUENCE));
    const version = der.contentOf(bytes, der.expectTag(cri[0], der.Tag.INTEGER));
    if (version.length !== 1 || version[0] !== 0) throw new der.DerError('version must be 0');
    der.expectTag(cri[1], der.Tag.SEQUENCE); // subject: ignored, the CA issues an empty one
    spki = Buffer.from(der.rawOf(bytes, der.expectTag(cri[2], der.Tag.SEQUENCE)));
    const attrsT = cri[3];
    if (attrsT !== undefined) {
      for (const attr of der.children(bytes, der.expectTag(attrsT, 0xa0))) {
        const [typeT, valuesT] = der.children(bytes, der.expectTag(attr, der.Tag.SEQUENCE));
        const type = der.decodeOid(der.contentOf(bytes, der.expectTag(typeT, der.Tag.OID)));
        if (type !== Oid.extensionRequest) continue;
        const values = der.children(bytes, der.expectTag(valuesT, der.Tag.SET));
        if (values.length !== 1 || extensions.size > 0) {
          throw new der.DerError('extensionRequest must appear once with one value');
        }
        extensions = parseExtensions(bytes, der.expectTag(values[0], der.Tag.SEQUENCE));
      }
    }
    info = Buffer.from(der.rawOf(bytes, criT as der.Tlv));
    const alg = der.children(bytes, der.expectTag(algT, der.Tag.SEQUENCE));
    sigAlg = der.decodeOid(der.contentOf(bytes, der.expectTag(alg[0], der.Tag.OID)));
    const bits = der.contentOf(bytes, der.expectTag(sigT, der.Tag.BIT_STRING));
    if (bits[0] !== 0) throw new der.DerError('signature BIT STRING has unused bits');
    signature = Buffer.from(bits.subarray(1));
  } catch (err) {
    // DerError, or a RangeError from a field with an impossible length: both mean malformed input.
    throw malformed(err instanceof Error ? err.message : String(err), err);
  }
  const hash = SIGNATURE_HASH[sigAlg];
  if (hash === undefined) throw malformed(`unsupported signature algorithm ${sigAlg}`);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (err) {
    throw malformed('unparsable public key', err);
  }
  checkKeyStrength(publicKey);
  let ok = false;
  try {
    ok = verify(hash, info, publicKey, signature);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new AmbitError(
      CaErrors.CSR_SIGNATURE_INVALID,
      'CSR signature does not verify with its public key',
    );
  }
  let san: GeneralNames | undefined;
  const sanExt = extensions.get(Oid.subjectAltName);
  if (sanExt) {
    try {
      san = parseGeneralNames(sanExt.value);
    } catch (err) {
      throw malformed('unparsable subjectAltName', err);
    }
  }
  return { spki, publicKey, extensions, san };
}

function checkKeyStrength(key: KeyObject): void {
  const type = key.asymmetricKeyType;
  const d = key.asymmetricKeyDetails;
  if (type === 'ec' && (d?.namedCurve === 'prime256v1' || d?.namedCurve === 'secp384r1')) return;
  if (type === 'rsa' && (d?.modulusLength ?? 0) >= 2048) return;
  if (type === 'ed25519') return;
  throw malformed(
    `unsupported key ${type ?? 'unknown'}${d?.namedCurve ? ` ${d.namedCurve}` : ''}${d?.modulusLength ? ` ${d.modulusLength} bits` : ''}: use ECDSA P-256`,
  );
}

/**
 * The request must be for exactly `identity`: one URI SAN equal to it, no
 * other names, and no CA powers. Throws CSR_SAN_REJECTED,
 * CSR_IDENTITY_MISMATCH or CSR_CA_REQUESTED.
 */
export function checkCsrFor(csr: ParsedCsr, identity: SpiffeId): void {
  const san = csr.san;
  const otherNames = san
    ? san.dnsNames.length + san.ipAddresses.length + san.emails.length + san.other
    : 0;
  if (san === undefined || san.uris.length !== 1 || otherNames > 0) {
    throw new AmbitError(
      CaErrors.CSR_SAN_REJECTED,
      'CSR must carry exactly one URI SAN (the SPIFFE ID) and no DNS, IP, email or other names',
      {
        details: {
          uris: san?.uris.length ?? 0,
          dnsNames: san?.dnsNames.length ?? 0,
          ipAddresses: san?.ipAddresses.length ?? 0,
        },
      },
    );
  }
  const asked = san.uris[0] as string;
  if (asked !== identity.uri) {
    throw new AmbitError(
      CaErrors.CSR_IDENTITY_MISMATCH,
      `CSR asks for "${asked.slice(0, 200)}" but the caller is authorized for ${identity.uri}`,
      { details: { requested: asked.slice(0, 200), authorized: identity.uri } },
    );
  }
  checkNotCa(csr);
}

/** Refuses CSRs that ask for CA powers, even though the issued profile would not grant them. */
function checkNotCa(csr: ParsedCsr): void {
  const bc = csr.extensions.get(Oid.basicConstraints);
  const ku = csr.extensions.get(Oid.keyUsage);
  let ca = false;
  try {
    ca =
      (bc !== undefined && parseBasicConstraints(bc.value).cA) ||
      (ku !== undefined &&
        (parseKeyUsage(ku.value).has('keyCertSign') || parseKeyUsage(ku.value).has('cRLSign')));
  } catch (err) {
    throw new AmbitError(
      CaErrors.CSR_MALFORMED,
      'malformed CSR: unparsable basicConstraints or keyUsage',
      { cause: err },
    );
  }
  if (ca) {
    throw new AmbitError(
      CaErrors.CSR_CA_REQUESTED,
      'CSR asks for a CA certificate (cA=true or keyCertSign/cRLSign)',
    );
  }
}
