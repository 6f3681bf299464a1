export const CaErrors = {
  /** The CSR is not a PEM "CERTIFICATE REQUEST" holding valid PKCS#10 DER, or uses an unsupported key/algorithm. */
  CSR_MALFORMED: 'AMBIT_CA_CSR_MALFORMED',
  /** The CSR's self-signature does not verify with its own public key. */
  CSR_SIGNATURE_INVALID: 'AMBIT_CA_CSR_SIGNATURE_INVALID',
  /** The CSR asks for an identity other than the one the caller is authorized for. */
  CSR_IDENTITY_MISMATCH: 'AMBIT_CA_CSR_IDENTITY_MISMATCH',
  /** The CSR's SANs are not exactly one URI (no DNS, IP, email or other names). */
  CSR_SAN_REJECTED: 'AMBIT_CA_CSR_SAN_REJECTED',
  /** The CSR asks for a CA certificate (basicConstraints cA=true or certificate-signing key usage). */
  CSR_CA_REQUESTED: 'AMBIT_CA_CSR_CA_REQUESTED',
  /** The identity to issue for is not in this CA's trust domain, or is not a workload ID. */
  IDENTITY_NOT_ALLOWED: 'AMBIT_CA_IDENTITY_NOT_ALLOWED',
  /** The requested certificate lifetime is longer than the maximum. */
  TTL_TOO_LONG: 'AMBIT_CA_TTL_TOO_LONG',
  /** The signing certificate is expired; nothing can be issued. */
  SIGNER_EXPIRED: 'AMBIT_CA_SIGNER_EXPIRED',
  /** `ca init` found an existing CA in the directory and --force was not given. */
  ALREADY_EXISTS: 'AMBIT_CA_ALREADY_EXISTS',
  /** A CA file (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem) is missing. */
  FILES_MISSING: 'AMBIT_CA_FILES_MISSING',
  /** The CA files are inconsistent: key does not match cert, cert is not a CA, or does not chain to root-cert.pem. */
  FILES_INVALID: 'AMBIT_CA_FILES_INVALID',
  /** Root rotation was asked of a plug-in (intermediate) CA; its root belongs to its owner. */
  ROTATE_UNSUPPORTED: 'AMBIT_CA_ROTATE_UNSUPPORTED',
  /** `ambit ca demo` failed at the step named in the message. */
  DEMO_FAILED: 'AMBIT_CA_DEMO_FAILED',
} as const;
