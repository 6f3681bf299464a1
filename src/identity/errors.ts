export const IdentityErrors = {
  /** A string is not a valid SPIFFE ID (the message says which rule it breaks). */
  SPIFFE_ID_INVALID: 'AMBIT_IDENTITY_SPIFFE_ID_INVALID',
  /** The CA could not be reached (connection refused, TLS failure, deadline). Retried with backoff. */
  CA_UNAVAILABLE: 'AMBIT_IDENTITY_CA_UNAVAILABLE',
  /** The CA refused the request (UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT…). */
  CA_REJECTED: 'AMBIT_IDENTITY_CA_REJECTED',
  /** The CA's answer is unusable: wrong identity in the leaf, or a chain that does not verify. */
  CA_RESPONSE_INVALID: 'AMBIT_IDENTITY_CA_RESPONSE_INVALID',
  /** The CA bearer token file cannot be read or is empty. */
  TOKEN_UNREADABLE: 'AMBIT_IDENTITY_TOKEN_UNREADABLE',
  /** No valid certificate for an identity could be obtained (the message carries the reason). */
  CERT_UNAVAILABLE: 'AMBIT_IDENTITY_CERT_UNAVAILABLE',
} as const;
