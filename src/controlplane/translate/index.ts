export { cidrBytes, ipBytes } from './addr.js';
export {
  diff,
  isEmptyDiff,
  resourcesByType,
  TYPE_URLS,
  type TypeDiff,
  type TypedResources,
  type TypeUrl,
} from './diff.js';
export { DEFAULT_TRANSLATE_OPTIONS, type TranslateOptions, translateOptions } from './options.js';
export { STATIC_STRICT_POLICY } from './peerauth.js';
export { serviceHostname } from './services.js';
export type { TranslationStatus } from './status.js';
export { type TranslatedConfig, translate, type WaypointConfig } from './translate.js';
export { podUid } from './workloads.js';
