/**
 * Error codes of the CA gRPC service (authentication, authorization, request
 * checks). Codes of the authority itself (CSR parsing, signing) are CaErrors.
 */
export const CaServiceErrors = {
  /** The caller sent no credential, or one that is unknown, expired or for another audience. */
  UNAUTHENTICATED: 'AMBIT_CA_UNAUTHENTICATED',
  /** The caller is authenticated but may not obtain a certificate for the requested identity. */
  PERMISSION_DENIED: 'AMBIT_CA_PERMISSION_DENIED',
  /** The request is malformed: bad CSR, CSR identity ≠ requested identity, bad validity. */
  INVALID_REQUEST: 'AMBIT_CA_INVALID_REQUEST',
  /** The credential could not be checked (e.g. the Kubernetes API server is unreachable). */
  AUTH_BACKEND_UNAVAILABLE: 'AMBIT_CA_AUTH_BACKEND_UNAVAILABLE',
  /**
   * The control plane has not loaded its config yet, so it cannot tell which identities a
   * node may have (gRPC UNAVAILABLE; clients retry) instead of a wrong PERMISSION_DENIED.
   */
  NOT_READY: 'AMBIT_CA_NOT_READY',
  /** The authority failed to sign a request that passed every check. */
  SIGN_FAILED: 'AMBIT_CA_SIGN_FAILED',
  /** The node bootstrap token store in the CA state directory is unreadable or corrupt. */
  TOKEN_STORE_INVALID: 'AMBIT_CA_TOKEN_STORE_INVALID',
} as const;
