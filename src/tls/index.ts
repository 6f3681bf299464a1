/**
 * TLS and X.509 for the mesh: PEM helpers, fast certificate parsing, CSR
 * creation, trust bundles, SPIFFE peer verification and workload certificates.
 */

export {
  extension,
  generalNames,
  ipBytes,
  keyIdentifier,
  type SanInput,
  type SigningAlgorithm,
  signed,
  signingAlgorithm,
} from './build.js';
export { TrustBundle } from './bundle.js';
export { createCsr, generateP256 } from './csr.js';
export * as der from './der.js';
export { TlsErrors } from './errors.js';
export { KeyUsageBit, type KeyUsageName, Oid, SIGNATURE_HASH } from './oids.js';
export {
  decodePemBlocks,
  derToPem,
  type PemBlock,
  pemToDer,
  splitPemCertificates,
} from './pem.js';
export {
  checkExpectedIdentity,
  checkTrustDomain,
  peerIdentity,
  socketPeerIdentity,
  type VerifiedChain,
  type VerifyOptions,
  type VerifyPeerOptions,
  verifyChain,
  verifyPeer,
} from './verify.js';
export {
  type TlsIdentityOptions,
  WorkloadCertificate,
  type WorkloadCertificateInit,
  type WorkloadTlsOptions,
} from './workload.js';
export {
  type CertificateInfo,
  type CertificateInput,
  certificateDer,
  type Extension,
  type GeneralNames,
  parseBasicConstraints,
  parseCertificate,
  parseExtensions,
  parseGeneralNames,
  parseKeyUsage,
} from './x509.js';
