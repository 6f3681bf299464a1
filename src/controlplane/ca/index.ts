export {
  type CaOptions,
  CertificateAuthority,
  CLOCK_SKEW_GRACE_MS,
  DEFAULT_CERT_TTL_MS,
  type InitOptions,
  type IssuedCertificate,
  MAX_CERT_TTL_MS,
  ROOT_CERT_TTL_MS,
  type ServingCertificateRequest,
  type SignOptions,
} from './authority.js';
export { CaErrors } from './errors.js';
export {
  CA_CERT_FILE,
  CA_FILES,
  CA_KEY_FILE,
  CERT_CHAIN_FILE,
  ROOT_CERT_FILE,
} from './files.js';
