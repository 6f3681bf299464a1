export const IdentityErrors = {
  /** A string is not a valid SPIFFE ID (the message says which rule it breaks). */
  SPIFFE_ID_INVALID: 'AMBIT_IDENTITY_SPIFFE_ID_INVALID',
} as const;
