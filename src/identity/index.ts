// Note: identity ↔ tls import each other (tls uses SpiffeId, ca-client uses
// tls). Neither uses the other at module top level, so the cycle is safe; keep it so.
export { CaClient, type CaClientOptions, DEFAULT_CERT_VALIDITY_MS } from './ca-client.js';
export { IdentityErrors } from './errors.js';
export {
  type CertificateDump,
  type CertificateEvent,
  type CertificateFetcher,
  type CertificateState,
  type Clock,
  type ManagedCertificate,
  SecretManager,
  type SecretManagerOptions,
  systemClock,
} from './secret-manager.js';
export { assertTrustDomain, DEFAULT_TRUST_DOMAIN, SpiffeId } from './spiffe.js';
