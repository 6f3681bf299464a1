// Note: identity ↔ tls import each other (tls uses SpiffeId, ca-client uses
// tls). Neither uses the other at module top level, so the cycle is safe; keep it so.
// The CA client (`./ca-client.js`) is not re-exported: it loads @grpc/grpc-js and
// the protobuf runtime (~15 MB of RSS), and everything on the data path imports
// this barrel. Import it from its own module, where it is needed.
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
