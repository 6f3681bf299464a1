export { KubeErrors } from './errors.js';
export {
  describeObject,
  formatSource,
  type ManifestProblem,
  type ManifestSet,
  type ManifestSourceRef,
  manifestFiles,
  parseManifestText,
  type RawObject,
  readManifests,
} from './manifests.js';
export {
  type AuthorizationPolicy,
  type BackendPolicy,
  type Deployment,
  type DestinationRule,
  describeResource,
  type Gateway,
  type GRPCRoute,
  type HTTPRoute,
  KNOWN_KINDS,
  type Meta,
  type Namespace,
  type ParseOptions,
  type ParseResult,
  type PeerAuthentication,
  type Pod,
  parseResource,
  type RateLimitPolicy,
  type Resource,
  type ResourceKind,
  type ResourceOf,
  resourceKey,
  type Service,
  type ServiceAccount,
} from './resource.js';
export {
  type LabelSelector,
  labelsSubset,
  type PolicyTargetRef,
  selectorMatches,
} from './schema/common.js';
export type {
  BackendRef,
  ParentRef,
  RouteFilter,
  RouteMatch,
  RouteRule,
} from './schema/gateway.js';
export type {
  AuthzCondition,
  AuthzOperation,
  AuthzRule,
  AuthzSource,
  MtlsMode,
} from './schema/security.js';
export {
  duplicateError,
  parseResources,
  type Rejection,
  type ResourceRef,
  type ResourceSet,
  type SourcedResource,
} from './set.js';
