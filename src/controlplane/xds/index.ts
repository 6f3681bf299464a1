export {
  type Authenticator,
  bearerToken,
  type Caller,
  type CallerCredentials,
  credentialsFromCall,
  credentialsFromHttp,
  tokenAuthenticator,
  unauthenticated,
} from './auth.js';
export {
  type CacheChange,
  type CachedResource,
  contentVersion,
  ResourceCache,
  type ResourceDelta,
  type ResourceUpsert,
} from './cache.js';
export type { AckEvent, ConnectionStatus } from './connection.js';
export { type ConfigDumpQuery, configDump } from './dump.js';
export { XdsServerErrors } from './errors.js';
export { XdsMetrics } from './metrics.js';
export {
  type AckListener,
  type DeltaAdsOptions,
  DeltaAdsService,
  type XdsStatus,
} from './service.js';
