/**
 * CA-side PKCS#10 parsing: strict DER, self-signature check, requested
 * extensions. Policy (which identity may be issued) lives in authority.ts.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { AmbitError } from '../../core/errors.js';
import {
  der,
  type Extension,
  type GeneralNames,
  Oid,
  parseExtensions,
  parseGeneralNames,
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
    if (err instanceof der.DerError) throw malformed(err.message, err);
    throw err;
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
