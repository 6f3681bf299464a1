export const TlsErrors = {
  /** Text that should hold PEM blocks holds none, or a block is not valid base64/DER. */
  PEM_INVALID: 'AMBIT_TLS_PEM_INVALID',
  /** A certificate cannot be parsed, or breaks the X.509-SVID profile (e.g. a leaf with cA=true). */
  CERT_INVALID: 'AMBIT_TLS_CERT_INVALID',
  /** A certificate in the chain is expired or not yet valid. */
  CERT_EXPIRED: 'AMBIT_TLS_CERT_EXPIRED',
  /** A certificate chain does not lead to any root of the trust bundle. */
  CERT_UNTRUSTED: 'AMBIT_TLS_CERT_UNTRUSTED',
  /** A peer certificate carries no SPIFFE ID, more than one URI SAN, or an invalid one. */
  PEER_IDENTITY_INVALID: 'AMBIT_TLS_PEER_IDENTITY_INVALID',
  /** The peer's SPIFFE ID is not one of the identities expected for this destination. */
  PEER_IDENTITY_MISMATCH: 'AMBIT_TLS_PEER_IDENTITY_MISMATCH',
  /** The peer's SPIFFE ID belongs to another trust domain. */
  TRUST_DOMAIN_MISMATCH: 'AMBIT_TLS_TRUST_DOMAIN_MISMATCH',
  /** A private key cannot be parsed or does not match its certificate. */
  KEY_INVALID: 'AMBIT_TLS_KEY_INVALID',
} as const;
