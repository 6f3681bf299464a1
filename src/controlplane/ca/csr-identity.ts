/**
 * Reads the identity a CSR asks for, before anything is signed. Narrow local
 * adapter over @peculiar/x509 (src/tls creates CSRs but does not parse them):
 * the CA must reject a mismatching or malformed CSR with INVALID_ARGUMENT
 * before authorization, and must check proof of possession (the CSR's
 * self-signature).
 */
// @peculiar/x509 uses tsyringe, which needs the Reflect metadata polyfill first.
import 'reflect-metadata';
import {
  Pkcs10CertificateRequest,
  SubjectAlternativeNameExtension,
  URL as URL_NAME,
} from '@peculiar/x509';
import { AmbitError, isAmbitError } from '../../core/errors.js';
import { SpiffeId } from '../../identity/index.js';
import { CaServiceErrors } from './service-errors.js';

const SAN_OID = '2.5.29.17';
/** CSRs larger than this are rejected unparsed (a P-256 CSR is < 1 KiB). */
export const MAX_CSR_BYTES = 16 * 1024;

function invalid(reason: string, cause?: unknown): AmbitError {
  return new AmbitError(CaServiceErrors.INVALID_REQUEST, `invalid CSR: ${reason}`, { cause });
}

/**
 * The SPIFFE ID of the CSR's single URI SAN. Throws `AMBIT_CA_INVALID_REQUEST`
 * when the PEM does not parse, the signature does not verify, or there is not
 * exactly one URI SAN holding a valid SPIFFE ID.
 */
export async function csrIdentity(csrPem: string): Promise<SpiffeId> {
  if (csrPem.length === 0) throw invalid('empty');
  if (csrPem.length > MAX_CSR_BYTES) throw invalid(`larger than ${MAX_CSR_BYTES} bytes`);
  if (!csrPem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw invalid('not a PEM "CERTIFICATE REQUEST"');
  }
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw invalid('cannot be parsed', err);
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch (err) {
    throw invalid('signature cannot be checked (unsupported key or algorithm)', err);
  }
  if (!ok) throw invalid('signature does not verify');
  const sans = csr.getExtensions(SAN_OID);
  if (sans.length !== 1) throw invalid('needs exactly one subjectAltName extension');
  let uris: string[];
  try {
    const san = new SubjectAlternativeNameExtension(sans[0]?.rawData as ArrayBuffer);
    uris = san.names.items.filter((n) => n.type === URL_NAME).map((n) => n.value);
  } catch (err) {
    throw invalid('subjectAltName cannot be parsed', err);
  }
  if (uris.length !== 1) throw invalid(`needs exactly one URI SAN, found ${uris.length}`);
  try {
    return SpiffeId.parse(uris[0] as string);
  } catch (err) {
    if (isAmbitError(err)) throw invalid(err.message, err);
    throw err;
  }
}
