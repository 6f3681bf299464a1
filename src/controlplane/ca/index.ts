// CA gRPC service: authentication, authorization, CreateCertificate.
export {
  type Authenticator,
  bearerToken,
  type CallCredentials,
  type Caller,
  ChainAuthenticator,
  type NodeCaller,
  type WorkloadCaller,
} from './auth.js';
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
export {
  describeCaller,
  NodeAuthorizer,
  type WorkloadIdentityIndex,
  WorkloadIdentityTable,
} from './authorize.js';
export {
  ClientCertificateAuthenticator,
  type ClientCertificateAuthenticatorOptions,
} from './cert-auth.js';
export { CaErrors } from './errors.js';
export {
  CA_CERT_FILE,
  CA_FILES,
  CA_KEY_FILE,
  CERT_CHAIN_FILE,
  ROOT_CERT_FILE,
} from './files.js';
export {
  CA_AUDIENCE,
  DEFAULT_TRUSTED_NODE_ACCOUNTS,
  KubernetesTokenAuthenticator,
  type KubernetesTokenAuthenticatorOptions,
  type PodNodeLookup,
  type TokenReviewer,
  type TokenReviewResult,
} from './kube-auth.js';
export { KubePodNodeLookup, KubeTokenReviewer } from './kube-token-review.js';
export { NODE_TOKEN_STORE_FILE, NodeTokenAuthenticator, NodeTokenRegistry } from './node-token.js';
export {
  type CaServiceDefinition,
  type CaServiceOptions,
  CertificateService,
  type CertificateSigner,
  caGrpcService,
  grpcStatusOf,
  type IdentityAuthorizer,
  IMPERSONATED_IDENTITY_KEY,
} from './server.js';
export { CaServiceErrors } from './service-errors.js';
