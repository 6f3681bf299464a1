/**
 * The waypoint: ambit's opt-in L7 proxy (docs/waypoint.md). Feed it pushed
 * config through {@link ConfigStore} and tunnelled streams through
 * {@link WaypointProxy.handle}.
 */
export {
  type AuthzDecision,
  type AuthzRequest,
  authorizeRequest,
  type CompiledPolicy,
  compilePolicy,
  istioMatch,
} from './authz.js';
export {
  type ApplyResult,
  type ConfigSnapshot,
  ConfigStore,
  compileEndpoints,
  compileService,
} from './config.js';
export { WaypointErrors } from './errors.js';
export type { ConnectionInfo } from './forward.js';
export { nextTraceparent, type RequestRecord, WaypointMetrics } from './metrics.js';
export { sniff, WaypointProxy, type WaypointProxyOptions } from './proxy.js';
export { initTracing } from './tracing.js';
export type * from './types.js';
export type { UpstreamConnector, UpstreamTarget } from './upstream.js';
